output "event_bus_arn" {
  description = "ARN of the bus."
  value       = aws_cloudwatch_event_bus.this.arn
}

output "event_bus_name" {
  description = "Name of the bus."
  value       = aws_cloudwatch_event_bus.this.name
}

output "rule_arns" {
  description = "ARNs of the three rules, known at plan time (for the target's resource policy)."
  value       = local.rule_arns
}
