"""Sandboxed execution of untrusted trial code: AST policy, run-time guards, a worker process."""
