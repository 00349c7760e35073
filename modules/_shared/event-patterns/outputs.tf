output "detail_types" {
  description = "The detail-types of every pattern (for the buses' events:detail-type condition)."
  value       = concat(local.ec2_state_pattern["detail-type"], local.ssm_command_pattern["detail-type"], local.lifecycle_pattern["detail-type"])
}

output "ec2_state_pattern" {
  description = "Event pattern (JSON) of EC2 instances reaching running or terminated."
  value       = jsonencode(local.ec2_state_pattern)
}

output "lifecycle_pattern" {
  description = "Event pattern (JSON) of the Auto Scaling lifecycle actions (launch and terminate) of the hooks whose name starts with lifecycle_hook_prefix."
  value       = jsonencode(local.lifecycle_pattern)
}

output "sources" {
  description = "The sources of every pattern (for the buses' events:source condition)."
  value       = concat(local.ec2_state_pattern.source, local.ssm_command_pattern.source, local.lifecycle_pattern.source)
}

output "ssm_command_pattern" {
  description = "Event pattern (JSON) of the join documents' Run Command invocation status changes."
  value       = jsonencode(local.ssm_command_pattern)
}
