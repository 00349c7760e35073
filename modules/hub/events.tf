# The hub bus in the directory Region: spokes in this Region put their events here; two rules
# deliver EC2 state changes and the join documents' command status changes to the queue.

resource "aws_cloudwatch_event_bus" "this" {
  name = local.event_bus_name
  tags = var.tags
}

data "aws_iam_policy_document" "bus" {
  statement {
    sid       = "OrganizationPutEvents"
    actions   = ["events:PutEvents"]
    resources = [local.event_bus_arn]

    principals {
      type        = "AWS"
      identifiers = var.organization_id != null ? ["*"] : [for id in sort(var.allowed_account_ids) : "arn:${local.partition}:iam::${id}:root"]
    }

    dynamic "condition" {
      for_each = var.organization_id != null ? [var.organization_id] : []
      content {
        test     = "StringEquals"
        variable = "aws:PrincipalOrgID"
        values   = [condition.value]
      }
    }
  }
}

resource "aws_cloudwatch_event_bus_policy" "this" {
  event_bus_name = aws_cloudwatch_event_bus.this.name
  policy         = data.aws_iam_policy_document.bus.json

  lifecycle {
    precondition {
      condition     = (var.organization_id != null) != (length(var.allowed_account_ids) > 0)
      error_message = "Set exactly one of organization_id and allowed_account_ids: the hub bus admits only the organization or only the listed accounts."
    }
  }
}

resource "aws_cloudwatch_event_rule" "ec2_state" {
  name           = "${var.name_prefix}-ec2-state"
  description    = "EC2 instances reaching running or terminated, forwarded by the spokes"
  event_bus_name = aws_cloudwatch_event_bus.this.name
  event_pattern  = jsonencode(local.ec2_state_pattern)
  tags           = var.tags
}

resource "aws_cloudwatch_event_rule" "ssm_command" {
  name           = "${var.name_prefix}-ssm-command"
  description    = "Status changes of the join documents' Run Command invocations, forwarded by the spokes"
  event_bus_name = aws_cloudwatch_event_bus.this.name
  event_pattern  = jsonencode(local.ssm_command_pattern)
  tags           = var.tags
}

resource "aws_cloudwatch_event_target" "ec2_state" {
  rule           = aws_cloudwatch_event_rule.ec2_state.name
  event_bus_name = aws_cloudwatch_event_bus.this.name
  target_id      = "domain-join-queue"
  arn            = aws_sqs_queue.this.arn
}

resource "aws_cloudwatch_event_target" "ssm_command" {
  rule           = aws_cloudwatch_event_rule.ssm_command.name
  event_bus_name = aws_cloudwatch_event_bus.this.name
  target_id      = "domain-join-queue"
  arn            = aws_sqs_queue.this.arn
}
