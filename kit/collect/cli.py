"""``vmkit collect``: live collection over WinRM (a thin layer over :func:`kit.collect.collect_many`)."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a command stopped by Ctrl-C


@contextlib.contextmanager
def plain_http_warning() -> Iterator[None]:
    """Show the kit's HTTP-encryption warning as one plain stderr line, not a Python source location."""
    import warnings

    from .remote import HttpEncryptionWarning

    shown = warnings.showwarning

    def show(message, category, *a, **kw):
        if issubclass(category, HttpEncryptionWarning):
            print(f"warning: {message}", file=sys.stderr)
        else:  # pragma: no cover - other warnings as Python shows them
            shown(message, category, *a, **kw)

    with warnings.catch_warnings():
        warnings.simplefilter("always", HttpEncryptionWarning)  # once per process is the kit's own rule
        warnings.showwarning = show
        yield


def cmd_collect(args: argparse.Namespace) -> int:
    from . import TRANSPORTS, collect_many, read_inventory, script_path

    if args.print_script:  # the script itself, ready for `> Collect-GuestAgentKit.ps1`; its path on stderr
        sys.stdout.flush()
        sys.stdout.buffer.write(script_path().read_bytes())  # byte for byte (ASCII, its own line endings)
        sys.stdout.buffer.flush()
        print(f"# {script_path()}", file=sys.stderr)
        return EXIT_OK
    hosts = list(args.hosts)
    if args.inventory:
        hosts += read_inventory(args.inventory)
    if not hosts:
        print("vmkit collect: give at least one HOST or --inventory FILE", file=sys.stderr)
        return EXIT_USAGE
    if args.transport not in TRANSPORTS:  # pragma: no cover - argparse choices
        return EXIT_USAGE
    if args.insecure:
        print("warning: --insecure: the VM's TLS certificate is not checked", file=sys.stderr)
    if args.http and args.https:
        print("vmkit collect: --http and --https exclude each other", file=sys.stderr)
        return EXIT_USAGE
    from ..errors import CollectionInterrupted

    try:
        with plain_http_warning():
            results = collect_many(
                hosts, max_workers=args.parallel, progress=not args.no_progress, user=args.user, out=args.out,
                transport=args.transport, scheme="http" if args.http else "https" if args.https else "auto",
                port=args.port, insecure=args.insecure, ca_file=args.ca_file, cert_pem=args.cert,
                cert_key_pem=args.cert_key, proxy=args.proxy, deadline_s=args.deadline,
                operation_timeout_s=args.operation_timeout, read_timeout_s=args.operation_timeout + 10)
    except CollectionInterrupted as exc:
        print(f"\nvmkit collect: {exc}", file=sys.stderr)
        for r in exc.results:
            print(f"  {r}", file=sys.stderr)
        return EXIT_INTERRUPTED
    ok = [r for r in results if r.ok]
    print(f"\n{len(ok)} of {len(results)} VMs collected")
    for r in results:
        print(f"  {r}")
    if ok:
        print("\nNext: vmkit diagnose " + " ".join(str(r.bundle) for r in ok[:1])
              + (" (and the others)" if len(ok) > 1 else ""))
    return EXIT_OK if len(ok) == len(results) else EXIT_SOME_FAILED


def connection_args(c: argparse.ArgumentParser) -> None:
    """How to reach a VM over WinRM: the options `vmkit collect` and `vmkit probe` share."""
    c.add_argument("--user", "-u", help="user name (DOMAIN\\user, or .\\user for a local account); default VMKIT_USER")
    c.add_argument("--transport", "-t", default="ntlm", choices=["ntlm", "kerberos", "credssp", "certificate", "basic"],
                   help="authentication (default ntlm)")
    c.add_argument("--port", "-p", type=int, default=None, help="WinRM port (default 5986 for HTTPS, 5985 for HTTP)")
    c.add_argument("--http", action="store_true",
                   help="plain HTTP 5985 only (with ntlm/kerberos, which encrypt the messages). Default: HTTPS 5986 "
                        "if it listens, else HTTP 5985 with NTLM message encryption (a warning says what that lacks)")
    c.add_argument("--https", action="store_true", help="HTTPS only: never fall back to HTTP 5985")
    c.add_argument("--insecure", action="store_true", help="do not check the VM's TLS certificate (lab VMs)")
    c.add_argument("--ca-file", help="PEM file of the VM's certificate or its CA, to trust it")
    c.add_argument("--cert", help="client certificate PEM (with --transport certificate)")
    c.add_argument("--cert-key", help="client certificate key PEM (with --transport certificate)")
    c.add_argument("--proxy", help="explicit HTTP proxy URL for WinRM (environment proxies are never used)")


def register(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser(
        "collect", help="collect a bundle from one or more VMs over WinRM",
        description="Run the kit's read-only collector on each VM over WinRM and save one verified bundle per VM. "
                    "The password comes from VMKIT_PASSWORD, the keyring (service 'guestagent-kit'), or a prompt.")
    c.add_argument("hosts", nargs="*", metavar="HOST", help="VM host name or IP address")
    c.add_argument("--inventory", metavar="FILE", help="file with one host per line (# comments; CSV first column)")
    connection_args(c)
    c.add_argument("--out", "-o", default="bundles", help="folder for the bundles (default ./bundles)")
    c.add_argument("--parallel", type=int, default=4, help="VMs collected at once (default 4)")
    c.add_argument("--deadline", type=float, default=1800.0, help="give up on a VM after this many seconds (1800)")
    c.add_argument("--operation-timeout", type=int, default=20, help="WinRM operation timeout in seconds (20)")
    c.add_argument("--no-progress", action="store_true", help="no progress bar")
    c.add_argument("--print-script", action="store_true",
                   help="print the collector .ps1 (to run it by hand on a VM: `vmkit collect --print-script > "
                        "Collect-GuestAgentKit.ps1`) and exit; its path goes to stderr")
    c.set_defaults(func=cmd_collect)
