"""Bundles: what was collected from one VM at one time, opened from a folder or a .zip.

    >>> b = open_bundle("sample_logs/healthy")
    >>> b.kind, b.collected_at
    >>> b.agent_log          # any frame by name (docs/frames.md)
    >>> b.inventory          # every file: what it was recognised as, parsed rows, issues, hashes
    >>> b.issues             # everything that could not be read cleanly
    >>> b.missing            # expected artifacts that are absent, and why they matter

**Kinds.** ``kit`` (has the kit's ``manifest.json``), ``rescue-disk-logs`` (``az vm repair``'s
win-collect-attached-disk-logs folder ``<MM-dd-yyyy_HH.mm.ss>_UTC``: when the files were copied, ``copied_at``),
``disk-inspection`` (VM Inspector's ``DiskInspection_...`` zip), ``log-collection`` (``<HOST>_LogCollection_<time>
\\device_0\\...``), ``guest-log-collector`` (paths carry the ``WindowsAzure/Logs`` / ``Packages/Plugins`` anchors,
as the agent's CollectGuestLogs zip does), ``hand-copied`` (flattened or drive-less folder names:
``WindowsAzure_Logs_Plugins``, ``<Publisher.Type>-<version>``, ``Logs\\...``), ``logs-folder`` (a copy of
``C:\\WindowsAzure\\Logs``: WaAppAgent.log, Plugins\\ or AggregateStatus\\ at its root) and ``loose`` (whatever a
customer pasted). A zip (or folder) whose only top-level entry is a folder holding a bundle is opened at that
folder. :mod:`kit.bundle.layout` maps each path onto the kit layout and says how (the inventory's ``mapped_by``);
an extension file whose path lacks its extension or version gets them from the evidence
:mod:`kit.parse._identity` reads (HandlerEnvironment.json beside it, the handler log's own folder lines), see
docs/bundle-format.md, *Other layouts*.

**Recognising files**, first match wins: (1) ``manifest`` - the kit manifest's entry for the file (its layout
path or the command in ``origin``); (2) ``path`` - a parser's ``PATTERNS`` on the canonical layout path
(:mod:`kit.bundle.layout`); (3) ``content`` - :func:`kit.parse.sniff` on the first 64 KiB; (4) ``path`` again -
any ``*.log`` under ``C/WindowsAzure/Logs/Plugins/`` that nothing else recognised is read as a handler log
(noted in the inventory).

**Provenance.** Frame rows carry ``source`` = the file's canonical layout path when it has one (so
``VMAgentLogs\\WaAppAgent.log`` in a zip is cited as ``C/WindowsAzure/Logs/WaAppAgent.log``; parsers read the
extension name and version from it), else the path as stored. :attr:`Bundle.inventory` maps one to the other.

**Limits.** A file larger than ``max_file_bytes`` (default 512 MiB) is not read whole: its head is still sniffed
(64 KiB), it is listed with status ``skipped`` and a note, a ``file-skipped`` issue is recorded, and the
artifact counts as missing. A zip is read in place, never extracted; :mod:`kit.bundle.safezip` refuses hostile
zips and caps the actual decompressed bytes (``max_total_bytes``, default 1 GiB).

**Laziness.** Opening lists the files, recognises them (reading at most 64 KiB of a file whose path says
nothing) and checks the manifest's SHA-256 of each listed file. Parsing happens on first access to a frame, only
for the parsers that fill it, and is cached; :attr:`Bundle.inventory`, :attr:`Bundle.issues` and
:meth:`Bundle.frames` parse everything. Damaged files and parser bugs never stop a bundle: they become issues.

**Decoding** goes through :func:`kit.textio.decode`. A decode note that means damage or guesswork (a legacy code
page only guessed, damaged UTF-8, a file ending mid-character) becomes an ``encoding`` issue; notes about what
Windows normally writes (NUL padding, UTF-16 LE without BOM, a confidently detected OEM/ANSI code page such as
cp850 from cmd.exe redirection) go to the inventory's ``note`` only. Console artifacts (route print, ipconfig,
netsh, sc) are decoded with ``hint="oem"``.

**Modules.** :mod:`kit.bundle.bundle` (the :class:`Bundle`: parsing and frames, and :func:`open_bundle`),
:mod:`kit.bundle._recognise` (recognising files), :mod:`kit.bundle._views` (inventory, missing, issues, time
reference, summary), :mod:`kit.bundle._files` (the inventory/missing schemas and the per-file record),
:mod:`kit.bundle.layout` (layouts and path mapping), :mod:`kit.bundle.manifest`, :mod:`kit.bundle.sources` and
:mod:`kit.bundle.safezip` (reading folders and zips safely).
"""

from __future__ import annotations

from ._files import INVENTORY, MISSING
from .bundle import Bundle, open_bundle

__all__ = ["INVENTORY", "MISSING", "Bundle", "open_bundle"]
