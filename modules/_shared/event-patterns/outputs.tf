output "ec2_state_pattern" {
  description = "Event pattern (JSON) of EC2 instances reaching running or terminated."
  value       = jsonencode(local.ec2_state_pattern)
}

output "ssm_command_pattern" {
  description = "Event pattern (JSON) of the join documents' Run Command invocation status changes."
  value       = jsonencode(local.ssm_command_pattern)
}
