"""Where and how precisely the network computes: the `device` and determinism choices, and the `precision`
(fp32, bf16, fp16) a device can run well. Importing this package loads no torch, so `--help` stays instant.
"""
