"""Shots on disk: a shot's files checked and propagated (`shot`), its outputs and the `manifest` that says a
folder holds one whole run, the TOML job files of render farms (`job_file`), their paths moved onto a worker by
the farm's rules (`path_mapping`), and the `batch` that runs them, resumably, stopping cleanly on SIGTERM
(`stop_request`).
"""
