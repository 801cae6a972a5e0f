EXTRA_DIST += examples/policy.yaml
