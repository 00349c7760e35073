output "ec2_state_rule_arn" {
  description = "ARN of the default-bus rule forwarding EC2 state changes."
  value       = aws_cloudwatch_event_rule.ec2_state.arn
}

output "forward_role_arn" {
  description = "ARN of the role EventBridge uses to put events on the hub account's bus."
  value       = aws_iam_role.forward.arn
}

output "hub_event_bus_arn" {
  description = "ARN of the hub account's bus in this Region that the rules target."
  value       = local.hub_event_bus_arn
}

output "lifecycle_rule_arn" {
  description = "ARN of the default-bus rule forwarding the lifecycle hooks' actions (null unless lifecycle_hooks.enabled)."
  value       = try(aws_cloudwatch_event_rule.lifecycle[0].arn, null)
}

output "linux_join_document_name" {
  description = "Name of the Linux join SSM document."
  value       = aws_ssm_document.join["linux"].name
}

output "spoke_role_arn" {
  description = "ARN of the role the hub Lambda assumes (null unless create_account_resources)."
  value       = try(aws_iam_role.spoke[0].arn, null)
}

output "ssm_command_rule_arn" {
  description = "ARN of the default-bus rule forwarding the join documents' command status changes."
  value       = aws_cloudwatch_event_rule.ssm_command.arn
}

output "windows_join_document_name" {
  description = "Name of the Windows join SSM document."
  value       = aws_ssm_document.join["windows"].name
}
