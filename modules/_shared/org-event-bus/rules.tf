# The rules of the bus and their targets: EC2 state changes, the join documents' command status
# changes and the Auto Scaling lifecycle actions of the project's hooks, with the patterns every
# module shares (../event-patterns).

module "event_patterns" {
  source = "../event-patterns"

  join_document_names   = var.join_document_names
  lifecycle_hook_prefix = "${var.name_prefix}-"
}

resource "aws_cloudwatch_event_rule" "ec2_state" {
  name           = local.rule_names.ec2_state
  description    = "EC2 instances reaching running or terminated, forwarded by the spokes"
  event_bus_name = aws_cloudwatch_event_bus.this.name
  event_pattern  = module.event_patterns.ec2_state_pattern
  tags           = var.tags
}

resource "aws_cloudwatch_event_rule" "ssm_command" {
  name           = local.rule_names.ssm_command
  description    = "Status changes of the join documents' Run Command invocations, forwarded by the spokes"
  event_bus_name = aws_cloudwatch_event_bus.this.name
  event_pattern  = module.event_patterns.ssm_command_pattern
  tags           = var.tags
}

resource "aws_cloudwatch_event_target" "ec2_state" {
  rule           = aws_cloudwatch_event_rule.ec2_state.name
  event_bus_name = aws_cloudwatch_event_bus.this.name
  target_id      = var.target.id
  arn            = var.target.arn
}

resource "aws_cloudwatch_event_target" "ssm_command" {
  rule           = aws_cloudwatch_event_rule.ssm_command.name
  event_bus_name = aws_cloudwatch_event_bus.this.name
  target_id      = var.target.id
  arn            = var.target.arn
}

resource "aws_cloudwatch_event_rule" "lifecycle" {
  name           = local.rule_names.lifecycle
  description    = "Auto Scaling lifecycle actions of the hooks named ${var.name_prefix}-*, forwarded by the spokes that enable them"
  event_bus_name = aws_cloudwatch_event_bus.this.name
  event_pattern  = module.event_patterns.lifecycle_pattern
  tags           = var.tags
}

resource "aws_cloudwatch_event_target" "lifecycle" {
  rule           = aws_cloudwatch_event_rule.lifecycle.name
  event_bus_name = aws_cloudwatch_event_bus.this.name
  target_id      = var.target.id
  arn            = var.target.arn
}
