"""Build the Lambda artifacts for their runtime: the function zip, a dependency layer installed
by pip for the runtime's platform, an ELF audit of every shared object, and a sandbox import.

One module per job: `targets` (runtimes, architectures, wheel platform tags), `layer` (pip
install for the target), `elf_audit` (glibc symbol versions), `sandbox` (a `python -I` import
of the artifacts), `artifacts` (what is built, from which handlers and sources, and the
manifest). `plan` computes the handlers and sources from the Lambda list in one place.
"""
