# The HMAC key the Lambda derives the computer accounts' one-time passwords from
# (lambda/adjoin/passwords.py, threat model in docs/contracts.md): one GenerateMac per container
# and day gives a derivation key held in memory only, so a retry of a join can recompute its
# password and no password is ever stored. Only the Lambda role may compute MACs with it; this
# account's IAM administers the key but cannot use it.

resource "aws_kms_key" "otp" {
  #checkov:skip=CKV_AWS_7:AWS KMS cannot rotate HMAC keys automatically (https://docs.aws.amazon.com/kms/latest/developerguide/rotate-keys.html); rotate by replacing the key.
  description              = "${var.name_prefix}: derives the one-time passwords of pre-created computer accounts"
  customer_master_key_spec = "HMAC_256"
  key_usage                = "GENERATE_VERIFY_MAC"
  deletion_window_in_days  = 30
  policy                   = data.aws_iam_policy_document.otp_key.json
  tags                     = var.tags

  # The key policy names the Lambda role: it must exist first.
  depends_on = [aws_iam_role.lambda]
}

# The Lambda names the key by this alias (OTP_KEY_ID), so its environment is known at plan.
resource "aws_kms_alias" "otp" {
  name          = local.otp_key_alias
  target_key_id = aws_kms_key.otp.key_id
}

data "aws_iam_policy_document" "otp_key" {
  #checkov:skip=CKV_AWS_109:Key policies apply to this key only; administration without use of the key.
  #checkov:skip=CKV_AWS_111:Key policies apply to this key only; administration without use of the key.
  #checkov:skip=CKV_AWS_356:In a key policy "*" is this key.
  statement {
    sid = "AccountAdministers"
    # no kms:GenerateMac / kms:VerifyMac: only the Lambda role derives passwords
    actions = [
      "kms:CancelKeyDeletion", "kms:Create*", "kms:Delete*", "kms:Describe*", "kms:Disable*",
      "kms:Enable*", "kms:Get*", "kms:List*", "kms:Put*", "kms:Revoke*",
      "kms:ScheduleKeyDeletion", "kms:TagResource", "kms:UntagResource", "kms:Update*",
    ]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${var.account_id}:root"]
    }
  }

  # An HMAC_256 key computes HMAC_SHA_256 only
  # (https://docs.aws.amazon.com/kms/latest/developerguide/hmac.html): no algorithm condition.
  statement {
    sid       = "LambdaDerivesPasswords"
    actions   = ["kms:GenerateMac"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = [local.lambda_role_arn]
    }
  }
}
