variable "directory" {
  description = "Directory settings passed to modules/hub (adapter, leave_adapter, directory_ids, default_directory_id, region, ad_tools_host_tag, computer_name_prefix, tag_computer_name); defaults are the contract's."
  type = object({
    adapter                 = optional(string, "ds")
    leave_adapter           = optional(string, "ad_tools_host")
    directory_ids           = optional(list(string), [])
    default_directory_id    = optional(string)
    region                  = optional(string)
    ad_tools_host_tag       = optional(object({ key = string, value = string }), { key = "adToolsHost", value = "true" })
    computer_name_prefix    = optional(string, "EC2")
    tag_computer_name       = optional(bool, false)
    ldap_ca_cert_parameters = optional(list(string), [])
  })
  default  = {}
  nullable = false
}

variable "endpoint_url" {
  description = "URL of the local AWS emulator (moto server) every provider talks to."
  type        = string
  default     = "http://127.0.0.1:5000"
  nullable    = false
}

variable "event_source_mapping_enabled" {
  description = "Enable the queue's event source mapping. Off by default: moto cannot run the function (no Docker) and would push every message towards the DLQ; the end-to-end harness drives the handler itself."
  type        = bool
  default     = false
  nullable    = false
}

variable "join_password_parameter_name" {
  description = "Name of the SSM SecureString parameter holding the join user's password. Terraform takes only the name; the harness writes the parameter itself."
  type        = string
  default     = "/ad-join/join-password"
  nullable    = false
}

variable "lambda_zip_path" {
  description = "Path of the Lambda zip built by `make package`; its hash is computed from the file."
  type        = string
  default     = "../../build/adjoin-lambda.zip"
  nullable    = false
}

variable "name_prefix" {
  description = "Prefix of every name in every account and Region."
  type        = string
  default     = "ad-join"
  nullable    = false
}

variable "powertools_layer_zip_path" {
  description = "Path of the Powertools layer zip built by `make package`, published here as the function's layer."
  type        = string
  default     = "../../build/powertools-layer.zip"
  nullable    = false
}

variable "queue_delay_seconds" {
  description = "Delay of the domain-join queue; short for local runs."
  type        = number
  default     = 5
  nullable    = false
}

variable "tags" {
  description = "Tags merged into every taggable resource."
  type        = map(string)
  default     = { project = "ad-join", environment = "local" }
  nullable    = false
}
