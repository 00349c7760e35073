"""The permissions proof: every AWS request the Lambda makes and every service-to-service
delivery on the event path, evaluated with a real IAM policy engine (@cloud-copilot/iam-simulate,
installed by `make install-iam-sim`) against the policies Terraform creates."""
