output "config_table_name" {
  description = "Name of the config table in the hub (us-east-1)."
  value       = module.hub.config_table_name
}

output "directory_region" {
  description = "The hub's directory Region."
  value       = "us-east-1"
}

output "dlq_arn" {
  description = "ARN of the dead-letter queue."
  value       = module.hub.dlq_arn
}

output "dlq_url" {
  description = "URL of the dead-letter queue."
  value       = module.hub.dlq_url
}

output "endpoint_url" {
  description = "The emulator every provider talked to."
  value       = var.endpoint_url
}

output "function_name" {
  description = "Name of the hub Lambda function."
  value       = module.hub.function_name
}

output "hub_account_id" {
  description = "The hub account id."
  value       = local.hub_account_id
}

output "hub_event_bus_arns" {
  description = "ARNs of the hub account's buses by Region (hub bus in us-east-1, regional bus in eu-west-1)."
  value = {
    "us-east-1" = module.hub.event_bus_arn
    "eu-west-1" = module.hub_euw1.event_bus_arn
  }
}

output "join_password_parameter_name" {
  description = "Name of the SSM SecureString the harness writes the join user's password to (hub, us-east-1)."
  value       = var.join_password_parameter_name
}

output "kms_key_arn" {
  description = "ARN of the hub key (encrypt the join password SecureString with it)."
  value       = module.hub.kms_key_arn
}

output "lambda_role_arn" {
  description = "ARN of the hub Lambda's role."
  value       = module.hub.lambda_role_arn
}

output "leave_document_name" {
  description = "Name of the AD tools host leave document in the hub (null unless leave adapter is ad_tools_host)."
  value       = module.hub.leave_document_name
}

output "queue_arn" {
  description = "ARN of the domain-join queue."
  value       = module.hub.queue_arn
}

output "queue_url" {
  description = "URL of the domain-join queue."
  value       = module.hub.queue_url
}

output "spoke_region_topic_arns" {
  description = "ARNs of the hub account's regional topics by Region."
  value       = { "eu-west-1" = module.hub_euw1.topic_arn }
}

output "state_table_name" {
  description = "Name of the state table in the hub (us-east-1)."
  value       = module.hub.state_table_name
}

output "workload_accounts" {
  description = "Per workload account: the spoke role ARN, and per Region the rule ARNs, forward role ARN and join document names."
  value = {
    "111111111111" = {
      spoke_role_arn = module.w1_use1.spoke_role_arn
      regions = {
        "us-east-1" = module.w1_use1
        "eu-west-1" = module.w1_euw1
      }
    }
    "222222222222" = {
      spoke_role_arn = module.w2_use1.spoke_role_arn
      regions = {
        "us-east-1" = module.w2_use1
        "eu-west-1" = module.w2_euw1
      }
    }
  }
}
