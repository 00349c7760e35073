variable "join_document_names" {
  description = "Names of the join documents whose Run Command status changes are forwarded (Linux first, then Windows)."
  type        = list(string)
  nullable    = false

  validation {
    condition     = length(var.join_document_names) > 0
    error_message = "join_document_names must name at least one document."
  }
}

variable "lifecycle_hook_prefix" {
  description = "The prefix of the names of the Auto Scaling lifecycle hooks whose actions are forwarded (the callers pass \"<name_prefix>-\")."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9_/-]{1,200}$", var.lifecycle_hook_prefix))
    error_message = "lifecycle_hook_prefix must be 1-200 characters of a lifecycle hook name ([A-Za-z0-9-_/])."
  }
}
