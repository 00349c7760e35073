variable "join_document_names" {
  description = "Names of the join documents whose Run Command status changes are forwarded (Linux first, then Windows)."
  type        = list(string)
  nullable    = false

  validation {
    condition     = length(var.join_document_names) > 0
    error_message = "join_document_names must name at least one document."
  }
}
