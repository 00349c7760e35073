# One customer-managed key for the hub's queues, alarm topic, tables and log group. The key
# policy lets only this account's IAM, the Lambda role and the AWS services that deliver to or
# store these resources use it; no other account.

resource "aws_kms_key" "this" {
  description             = "${var.name_prefix}: queues, topics, tables and logs of the AD join hub"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
  tags                    = var.tags

  # The key policy names the Lambda role: it must exist first.
  depends_on = [aws_iam_role.lambda]
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

  statement {
    sid       = "LambdaUse"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = [local.lambda_role_arn]
    }
  }

  # Service principals delivering to the encrypted queue and topic. SQS's and SNS's pages give
  # these statements without conditions and name no context key of the KMS call
  # (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-key-management.html,
  # https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html): a condition that needs
  # aws:SourceAccount or aws:SourceArn would refuse every delivery. The IfExists form still
  # refuses another account's source whenever AWS does send one.
  statement {
    sid       = "EventBridgeToQueue"
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

  # The spoke-region topics deliver to the encrypted queue across Regions.
  dynamic "statement" {
    for_each = length(local.spoke_topic_arns) > 0 ? [1] : []
    content {
      sid       = "SpokeTopicsToQueue"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = ["*"]
      principals {
        type        = "Service"
        identifiers = local.spoke_topic_principals
      }
      condition {
        test     = "ArnEqualsIfExists"
        variable = "aws:SourceArn"
        values   = local.spoke_topic_arns
      }
    }
  }

  statement {
    sid       = "CloudWatchAlarmsToTopic"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
    condition {
      test     = "StringEqualsIfExists"
      variable = "aws:SourceAccount"
      values   = [var.account_id]
    }
  }

  statement {
    sid       = "CloudWatchLogs"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.${local.dns_sfx}"]
    }
    condition {
      test     = "ArnEquals"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = [local.log_group_arn]
    }
  }
}
