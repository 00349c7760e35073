output "detail_types" {
  description = "The detail-types of both patterns (for the buses' events:detail-type condition)."
  value       = [local.ec2_state_pattern["detail-type"][0], local.ssm_command_pattern["detail-type"][0]]
}

output "ec2_state_pattern" {
  description = "Event pattern (JSON) of EC2 instances reaching running or terminated."
  value       = jsonencode(local.ec2_state_pattern)
}

output "sources" {
  description = "The sources of both patterns (for the buses' events:source condition)."
  value       = [local.ec2_state_pattern.source[0], local.ssm_command_pattern.source[0]]
}

output "ssm_command_pattern" {
  description = "Event pattern (JSON) of the join documents' Run Command invocation status changes."
  value       = jsonencode(local.ssm_command_pattern)
}
