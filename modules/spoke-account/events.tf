# Rules on the default bus forwarding EC2 state changes and the join documents' command status
# changes to the hub account's bus in this Region, with the role EventBridge uses to put them.

module "event_patterns" {
  source = "../_shared/event-patterns"

  join_document_names   = [local.linux_join_document, local.windows_join_document]
  lifecycle_hook_prefix = local.lifecycle_hook_prefix
}

resource "aws_cloudwatch_event_rule" "ec2_state" {
  name          = "${var.name_prefix}-ec2-state"
  description   = "Forward EC2 instances reaching running or terminated to the AD join hub"
  event_pattern = module.event_patterns.ec2_state_pattern
  tags          = var.tags
}

resource "aws_cloudwatch_event_rule" "ssm_command" {
  name          = "${var.name_prefix}-ssm-command"
  description   = "Forward status changes of the join documents' Run Command invocations to the AD join hub"
  event_pattern = module.event_patterns.ssm_command_pattern
  tags          = var.tags
}

# Auto Scaling lifecycle actions of the hooks named <name_prefix>-* (lifecycle_hooks.enabled).
resource "aws_cloudwatch_event_rule" "lifecycle" {
  count = var.lifecycle_hooks.enabled ? 1 : 0

  name          = "${var.name_prefix}-lifecycle"
  description   = "Forward Auto Scaling lifecycle actions of the hooks named ${local.lifecycle_hook_prefix}* to the AD join hub"
  event_pattern = module.event_patterns.lifecycle_pattern
  tags          = var.tags
}

resource "aws_cloudwatch_event_target" "lifecycle" {
  count = var.lifecycle_hooks.enabled ? 1 : 0

  rule      = aws_cloudwatch_event_rule.lifecycle[0].name
  target_id = "ad-join-hub-bus"
  arn       = local.hub_event_bus_arn
  role_arn  = aws_iam_role.forward.arn
}

resource "aws_cloudwatch_event_target" "ec2_state" {
  rule      = aws_cloudwatch_event_rule.ec2_state.name
  target_id = "ad-join-hub-bus"
  arn       = local.hub_event_bus_arn
  role_arn  = aws_iam_role.forward.arn
}

resource "aws_cloudwatch_event_target" "ssm_command" {
  rule      = aws_cloudwatch_event_rule.ssm_command.name
  target_id = "ad-join-hub-bus"
  arn       = local.hub_event_bus_arn
  role_arn  = aws_iam_role.forward.arn
}

data "aws_iam_policy_document" "forward_trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [var.account_id]
    }
  }
}

# One role per Region (IAM is global: the Region is in its name), so each module instance is
# self-contained.
resource "aws_iam_role" "forward" {
  name               = "${var.name_prefix}-forward-${local.region}"
  description        = "EventBridge forwards EC2 and Run Command events to the AD join hub bus in ${local.region}"
  assume_role_policy = data.aws_iam_policy_document.forward_trust.json
  tags               = var.tags
}

data "aws_iam_policy_document" "forward" {
  statement {
    actions   = ["events:PutEvents"]
    resources = [local.hub_event_bus_arn]
  }
}

resource "aws_iam_role_policy" "forward" {
  name   = "put-events-hub-bus"
  role   = aws_iam_role.forward.id
  policy = data.aws_iam_policy_document.forward.json
}
