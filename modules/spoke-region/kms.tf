# A regional key for the topic (KMS keys are regional). EventBridge needs it to publish to the
# encrypted topic; nothing outside this account may use it.

resource "aws_kms_key" "this" {
  description             = "${var.name_prefix}: regional events topic of the AD join hub"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
  tags                    = var.tags
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.name_prefix}"
  target_key_id = aws_kms_key.this.key_id
}

data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_109:Key policies apply to this key only; the root statement delegates to IAM in this account.
  #checkov:skip=CKV_AWS_111:Key policies apply to this key only; the root statement delegates to IAM in this account.
  #checkov:skip=CKV_AWS_356:In a key policy "*" is this key.
  statement {
    sid       = "AccountIam"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${var.account_id}:root"]
    }
  }

  # EventBridge publishing to the encrypted topic. SNS's page gives this statement without a
  # condition and names no context key of the KMS call
  # (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html): aws:SourceAccount is
  # not sent, so only the IfExists form lets the events through (and still refuses another
  # account's source when one is sent).
  statement {
    sid       = "EventBridgeToTopic"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "StringEqualsIfExists"
      variable = "aws:SourceAccount"
      values   = [var.account_id]
    }
  }
}
