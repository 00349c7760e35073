output "config_table_name" {
  description = "Name of the config table: write one item per workload account (`ad-join config put`)."
  value       = module.hub.config_table_name
}

output "dlq_url" {
  description = "URL of the dead-letter queue."
  value       = module.hub.dlq_url
}

output "event_bus_arns" {
  description = "ARNs of this account's buses by Region (hub bus and regional buses): the spoke rules' targets."
  value = merge(
    { (var.region) = module.hub.event_bus_arn },
    { for m in module.region_use1 : "us-east-1" => m.event_bus_arn },
    { for m in module.region_use2 : "us-east-2" => m.event_bus_arn },
    { for m in module.region_usw2 : "us-west-2" => m.event_bus_arn },
    { for m in module.region_euw1 : "eu-west-1" => m.event_bus_arn },
    { for m in module.region_euc1 : "eu-central-1" => m.event_bus_arn },
    { for m in module.region_apse2 : "ap-southeast-2" => m.event_bus_arn },
  )
}

output "function_name" {
  description = "Name of the Lambda function."
  value       = module.hub.function_name
}

output "kms_key_arn" {
  description = "ARN of the hub key (encrypt the join password SecureString with it)."
  value       = module.hub.kms_key_arn
}

output "lambda_role_arn" {
  description = "ARN of the Lambda's role: pass it to envs/workload (hub_lambda_role_arn)."
  value       = module.hub.lambda_role_arn
}

output "queue_url" {
  description = "URL of the domain-join queue."
  value       = module.hub.queue_url
}

output "state_table_name" {
  description = "Name of the state table."
  value       = module.hub.state_table_name
}
