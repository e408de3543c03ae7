"""One-off cloud administration run by the AWS account's administrator, not on the line."""
