# The regional bus (modules/_shared/org-event-bus): spokes in this Region put their events here;
# two rules publish EC2 state changes and the join documents' command status changes to the
# topic.

module "event_bus" {
  source = "../_shared/org-event-bus"

  account_id          = var.account_id
  allowed_account_ids = var.allowed_account_ids
  description         = "regional bus"
  join_document_names = [local.linux_join_document, local.windows_join_document]
  name_prefix         = var.name_prefix
  organization_id     = var.organization_id
  tags                = var.tags
  target = {
    arn = aws_sns_topic.this.arn
    id  = "events-topic"
  }
}

# v0.1.0 declared the bus, its policy, the rules and their targets here.
moved {
  from = aws_cloudwatch_event_bus.this
  to   = module.event_bus.aws_cloudwatch_event_bus.this
}

moved {
  from = aws_cloudwatch_event_bus_policy.this
  to   = module.event_bus.aws_cloudwatch_event_bus_policy.this
}

moved {
  from = aws_cloudwatch_event_rule.ec2_state
  to   = module.event_bus.aws_cloudwatch_event_rule.ec2_state
}

moved {
  from = aws_cloudwatch_event_rule.ssm_command
  to   = module.event_bus.aws_cloudwatch_event_rule.ssm_command
}

moved {
  from = aws_cloudwatch_event_target.ec2_state
  to   = module.event_bus.aws_cloudwatch_event_target.ec2_state
}

moved {
  from = aws_cloudwatch_event_target.ssm_command
  to   = module.event_bus.aws_cloudwatch_event_target.ssm_command
}
