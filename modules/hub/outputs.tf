output "alarm_topic_arn" {
  description = "ARN of the alarms' SNS topic (null when alarms.create_sns_topic is false)."
  value       = try(aws_sns_topic.alarms[0].arn, null)
}

output "config_table_arn" {
  description = "ARN of the config table (created or existing)."
  value       = local.config_table_arn
}

output "config_table_name" {
  description = "Name of the config table (key accountId)."
  value       = local.create_config_table ? aws_dynamodb_table.config[0].name : local.config_table_name
}

output "dlq_arn" {
  description = "ARN of the dead-letter queue."
  value       = aws_sqs_queue.dlq.arn
}

output "dlq_url" {
  description = "URL of the dead-letter queue."
  value       = aws_sqs_queue.dlq.url
}

output "event_bus_arn" {
  description = "ARN of the hub event bus (target of the spoke rules in the directory Region)."
  value       = module.event_bus.event_bus_arn
}

output "event_bus_name" {
  description = "Name of the hub event bus."
  value       = module.event_bus.event_bus_name
}

output "function_arn" {
  description = "ARN of the Lambda function."
  value       = aws_lambda_function.this.arn
}

output "function_name" {
  description = "Name of the Lambda function."
  value       = aws_lambda_function.this.function_name
}

output "kms_key_arn" {
  description = "ARN of the hub's customer-managed key (also for the join password SecureString)."
  value       = aws_kms_key.this.arn
}

output "lambda_role_arn" {
  description = "ARN of the Lambda's execution role: the principal the spoke roles trust."
  value       = aws_iam_role.lambda.arn
}

output "leave_document_name" {
  description = "Name of the AD tools host leave document (null unless the leave adapter is ad_tools_host)."
  value       = try(aws_ssm_document.leave[0].name, null)
}

output "powertools_layer_arn" {
  description = "ARN of the Powertools layer attached to the function (null when powertools_layer.enabled is false)."
  value       = local.powertools_layer_arn
}

output "queue_arn" {
  description = "ARN of the domain-join queue (endpoint of the spoke-region subscriptions)."
  value       = aws_sqs_queue.this.arn
}

output "queue_url" {
  description = "URL of the domain-join queue."
  value       = aws_sqs_queue.this.url
}

output "reconcile_schedule_arn" {
  description = "ARN of the reconciler's EventBridge Scheduler schedule (null when reconcile.enabled is false)."
  value       = try(aws_scheduler_schedule.reconcile[0].arn, null)
}

output "state_table_name" {
  description = "Name of the state table (key instanceId)."
  value       = aws_dynamodb_table.state.name
}
