output "forward_rule_arns" {
  description = "ARNs of the forwarding rules (EC2 state, SSM command status) by Region."
  value = merge(
    { (var.region) = [module.home.ec2_state_rule_arn, module.home.ssm_command_rule_arn] },
    { for m in module.region_use1 : "us-east-1" => [m.ec2_state_rule_arn, m.ssm_command_rule_arn] },
    { for m in module.region_use2 : "us-east-2" => [m.ec2_state_rule_arn, m.ssm_command_rule_arn] },
    { for m in module.region_usw2 : "us-west-2" => [m.ec2_state_rule_arn, m.ssm_command_rule_arn] },
    { for m in module.region_euw1 : "eu-west-1" => [m.ec2_state_rule_arn, m.ssm_command_rule_arn] },
    { for m in module.region_euc1 : "eu-central-1" => [m.ec2_state_rule_arn, m.ssm_command_rule_arn] },
    { for m in module.region_apse2 : "ap-southeast-2" => [m.ec2_state_rule_arn, m.ssm_command_rule_arn] },
  )
}

output "spoke_role_arn" {
  description = "ARN of the role the hub Lambda assumes (the config item's assumeRoleARN)."
  value       = module.home.spoke_role_arn
}
