# The role the hub Lambda assumes in this account (once per account: create_account_resources).
# It trusts only the hub Lambda's role and may only describe, tag with adComputerName, and send
# the two join documents.

data "aws_iam_policy_document" "spoke_trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "AWS"
      identifiers = [local.hub_lambda_role_arn]
    }
  }
}

resource "aws_iam_role" "spoke" {
  count = var.create_account_resources ? 1 : 0

  name               = local.spoke_role_name
  description        = "Assumed by the AD join hub Lambda to join this account's instances"
  assume_role_policy = data.aws_iam_policy_document.spoke_trust.json
  tags               = var.tags
}

data "aws_iam_policy_document" "spoke" {
  statement {
    # Describe calls support no resource-level permissions.
    sid       = "Describe"
    actions   = ["ec2:DescribeInstances", "ssm:DescribeInstanceInformation"]
    resources = ["*"]
  }

  statement {
    sid       = "TagComputerName"
    actions   = ["ec2:CreateTags"]
    resources = ["arn:${local.partition}:ec2:*:${var.account_id}:instance/*"]
    condition {
      test     = "ForAllValues:StringEquals"
      variable = "aws:TagKeys"
      values   = ["adComputerName"]
    }
    condition {
      test     = "Null"
      variable = "aws:TagKeys"
      values   = ["false"]
    }
  }

  statement {
    sid     = "SendJoinDocuments"
    actions = ["ssm:SendCommand"]
    resources = [
      "arn:${local.partition}:ssm:*:${var.account_id}:document/${local.linux_join_document}",
      "arn:${local.partition}:ssm:*:${var.account_id}:document/${local.windows_join_document}",
      "arn:${local.partition}:ec2:*:${var.account_id}:instance/*",
    ]
  }
}

resource "aws_iam_role_policy" "spoke" {
  count = var.create_account_resources ? 1 : 0

  name   = "${var.name_prefix}-spoke"
  role   = aws_iam_role.spoke[0].id
  policy = data.aws_iam_policy_document.spoke.json
}
