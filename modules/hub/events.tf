# The hub bus in the directory Region: spokes in this Region put their events here; two rules
# deliver EC2 state changes and the join documents' command status changes to the queue.

module "event_bus" {
  source = "../_shared/org-event-bus"

  account_id          = var.account_id
  allowed_account_ids = var.allowed_account_ids
  description         = "hub bus"
  name                = local.event_bus_name
  organization_id     = var.organization_id
  tags                = var.tags
}

module "event_patterns" {
  source = "../_shared/event-patterns"

  join_document_names = [local.linux_join_document, local.windows_join_document]
}

# v0.1.0 declared the bus and its policy here.
moved {
  from = aws_cloudwatch_event_bus.this
  to   = module.event_bus.aws_cloudwatch_event_bus.this
}

moved {
  from = aws_cloudwatch_event_bus_policy.this
  to   = module.event_bus.aws_cloudwatch_event_bus_policy.this
}

resource "aws_cloudwatch_event_rule" "ec2_state" {
  name           = "${var.name_prefix}-ec2-state"
  description    = "EC2 instances reaching running or terminated, forwarded by the spokes"
  event_bus_name = module.event_bus.event_bus_name
  event_pattern  = module.event_patterns.ec2_state_pattern
  tags           = var.tags
}

resource "aws_cloudwatch_event_rule" "ssm_command" {
  name           = "${var.name_prefix}-ssm-command"
  description    = "Status changes of the join documents' Run Command invocations, forwarded by the spokes"
  event_bus_name = module.event_bus.event_bus_name
  event_pattern  = module.event_patterns.ssm_command_pattern
  tags           = var.tags
}

resource "aws_cloudwatch_event_target" "ec2_state" {
  rule           = aws_cloudwatch_event_rule.ec2_state.name
  event_bus_name = module.event_bus.event_bus_name
  target_id      = "domain-join-queue"
  arn            = aws_sqs_queue.this.arn
}

resource "aws_cloudwatch_event_target" "ssm_command" {
  rule           = aws_cloudwatch_event_rule.ssm_command.name
  event_bus_name = module.event_bus.event_bus_name
  target_id      = "domain-join-queue"
  arn            = aws_sqs_queue.this.arn
}
