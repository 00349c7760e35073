output "event_bus_arn" {
  description = "ARN of the regional bus (target of the spoke rules in this Region)."
  value       = module.event_bus.event_bus_arn
}

output "event_bus_name" {
  description = "Name of the regional bus."
  value       = module.event_bus.event_bus_name
}

output "kms_key_arn" {
  description = "ARN of the regional key encrypting the topic."
  value       = aws_kms_key.this.arn
}

output "subscription_arn" {
  description = "ARN of the hub queue's subscription to the topic."
  value       = aws_sns_topic_subscription.hub_queue.arn
}

output "topic_arn" {
  description = "ARN of the regional events topic."
  value       = aws_sns_topic.this.arn
}
