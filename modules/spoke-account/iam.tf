# The role the hub Lambda assumes in this account (once per account: create_account_resources).
# It trusts only the hub Lambda's role and may only describe, list command invocations, tag with
# adComputerName, send the two join documents, and (lifecycle_hooks.enabled) complete and
# heartbeat the lifecycle actions of the Auto Scaling groups tagged for it.

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
    # Describe and list calls support no resource-level permissions. ListCommandInvocations: a
    # redelivered join looks for the command its first attempt may have sent (issue 8).
    sid       = "Describe"
    actions   = ["ec2:DescribeInstances", "ssm:DescribeInstanceInformation", "ssm:ListCommandInvocations"]
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

  # IAM has no condition key for the lifecycle hook's name: both actions authorize only the
  # Auto Scaling group, with its tags as the only condition keys (Service Authorization
  # Reference: https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2autoscaling.html).
  # So the groups of this account that carry the tag, and no other.
  dynamic "statement" {
    for_each = var.lifecycle_hooks.enabled ? [1] : []
    content {
      sid       = "CompleteLifecycleActions"
      actions   = ["autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat"]
      resources = ["arn:${local.partition}:autoscaling:*:${var.account_id}:autoScalingGroup:*:autoScalingGroupName/*"]
      condition {
        test     = "StringEquals"
        variable = "aws:ResourceTag/${var.lifecycle_hooks.group_tag.key}"
        values   = [var.lifecycle_hooks.group_tag.value]
      }
    }
  }
}

resource "aws_iam_role_policy" "spoke" {
  count = var.create_account_resources ? 1 : 0

  name   = "${var.name_prefix}-spoke"
  role   = aws_iam_role.spoke[0].id
  policy = data.aws_iam_policy_document.spoke.json
}
