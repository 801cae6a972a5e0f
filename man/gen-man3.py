#!/usr/bin/env python3
"""Write the section-3 API reference from the public headers' doc comments.

One page per header (libtether(3) for tether.h, libtether-policy(3) for
policy.h, ...) with every function of the header: its prototype, what it
does, its parameters, what it returns and from which thread it may be
called; then the header's types and constants as they are declared. Every
function also gets a one-line page that sources its header's page
(`.so man3/libtether.3`), so `man 3 tether_conn_send` works. The list of
pages is written to man/man3/local.mk for automake.

Usage: man/gen-man3.py [OUTDIR]   (default: man/man3 next to this script)

The output depends on the headers, configure.ac's version and the DATE
below only, so it is reproducible: CI regenerates it into a temporary
directory and fails when it differs from the checked-in pages
(`make check-man`). Run it after changing a public header's comments, and
commit what it writes. Only the standard library is used.
"""
import os
import re
import sys
import textwrap

# The pages' date (.TH): the last time their format or the headers'
# conventions changed; bump it at a release (docs/packaging.md).
DATE = "2026-12-02"

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)

# header -> (page name, title of the page's NAME line)
HEADERS = [
    ("tether.h", "libtether"),
    ("policy.h", "libtether-policy"),
    ("transport.h", "libtether-transport"),
    ("config.h", "libtether-config"),
    ("sim.h", "libtether-sim"),
]


def version():
    with open(os.path.join(TOP, "configure.ac"), encoding="utf-8") as f:
        m = re.search(r"AC_INIT\(\[tether\], \[([^\]]+)\]", f.read())
    if not m:
        sys.exit("gen-man3.py: no version in configure.ac")
    return m.group(1)


# ------------------------------------------------------------ the header


def skip_comment(text, i):
    end = text.find("*/", i + 2)
    if end < 0:
        sys.exit("gen-man3.py: unterminated comment")
    return end + 2


def read_decl(text, i):
    """A declaration from i up to its ';' at brace depth 0."""
    depth = 0
    j = i
    while j < len(text):
        if text.startswith("/*", j):
            j = skip_comment(text, j)
            continue
        c = text[j]
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        elif c == ";" and depth == 0:
            return text[i:j + 1], j + 1
        j += 1
    sys.exit("gen-man3.py: declaration without ';': " + text[i:i + 60])


def parse_header(text):
    """The header as a list of items in order:
    ('file', doc) ('section', title) ('note', text) ('type', doc, code)
    ('macro', doc, code) ('func', doc, name, prototype)."""
    out = []
    pending = None  # (is_doc, text) of the comment just read
    i = 0
    n = len(text)

    def flush():
        nonlocal pending
        if pending is not None:
            is_doc, body = pending
            if is_doc and "@file" in body:
                out.append(("file", parse_doc(body)))
            elif body.strip():
                out.append(("note", " ".join(comment_lines(body))))
        pending = None

    while i < n:
        if text[i].isspace():
            i += 1
            continue
        if text.startswith("/*", i):
            j = skip_comment(text, i)
            raw = text[i:j]
            flush()
            m = re.match(r"/\* -+ ([\w ,.-]+?) \*/$", raw)
            if m:
                out.append(("section", m.group(1)))
            elif raw.startswith("/**"):
                pending = (True, raw[3:-2])
            else:
                pending = (False, raw[2:-2])
            i = j
            continue
        if text[i] == "#":
            j = i
            while True:
                e = text.find("\n", j)
                e = n if e < 0 else e
                if text[e - 1] != "\\":
                    break
                j = e + 1
            line = text[i:e]
            m = re.match(r"#define\s+(TETHER_\w+)", line)
            if m and m.group(1) != "TETHER_EXPORT" and \
                    not m.group(1).endswith("_H"):
                doc = pending
                pending = None
                out.append(("macro", doc, line))
            elif line.startswith("#include") or \
                    line.startswith("#define"):
                flush()
            else:
                # #if/#endif: a comment just before one (the file's) stays
                pass
            i = e
            continue
        if text.startswith('extern "C"', i):
            i = text.index("{", i) + 1
            continue
        if text[i] == "}":
            i += 1
            continue
        decl, i = read_decl(text, i)
        doc = pending
        pending = None
        if "TETHER_EXPORT" in decl:
            flat = re.sub(r"/\*.*?\*/", " ", decl, flags=re.S)
            flat = " ".join(flat.replace("TETHER_EXPORT", "").split())
            flat = re.sub(r"\* (\w+\s*\()", r"*\1", flat)
            m = re.search(r"(\w+)\s*\(", flat)
            if not m:
                sys.exit("gen-man3.py: no function name in: " + flat)
            out.append(("func", doc, m.group(1), flat))
        else:
            out.append(("type", doc, decl))
    flush()
    return out


def comment_lines(body):
    lines = []
    for line in body.split("\n"):
        line = line.rstrip()
        line = re.sub(r"^\s*\*( |$)", "", line)
        lines.append(line)
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def parse_doc(body):
    """Doxygen tags: {'brief', 'body' (paragraphs), 'params' [(name,
    text)], 'return', 'thread', 'copydoc', 'file'}."""
    doc = {"body": [], "params": []}
    cur = None  # (key, list of words) being filled
    para = []

    def close():
        nonlocal cur
        if cur is not None:
            key, words = cur
            text = " ".join(words)
            if key == "param":
                name, _, rest = text.partition(" ")
                doc["params"].append((name, rest))
            else:
                doc[key] = text
        cur = None

    for line in comment_lines(body):
        m = re.match(r"@(\w+)\s*(.*)", line.strip())
        if m:
            close()
            if para:
                doc["body"].append(" ".join(para))
                para = []
            cur = (m.group(1), [m.group(2)] if m.group(2) else [])
        elif not line.strip():
            close()
            if para:
                doc["body"].append(" ".join(para))
                para = []
        elif cur is not None:
            cur[1].append(line.strip())
        else:
            para.append(line.strip())
    close()
    if para:
        doc["body"].append(" ".join(para))
    return doc


# ---------------------------------------------------------------- roff


def esc(s):
    """Text for roff: backslashes, non-ASCII as \\[uXXXX]."""
    s = s.replace("\\", "\\e")
    return "".join(c if ord(c) < 128 else "\\[u%04X]" % ord(c) for c in s)


def text_line(s):
    """One filled paragraph: function references in bold, `code` in
    italics, each sentence on a line of its own."""
    s = esc(s)
    s = re.sub(r"\b(tether_\w+)\(\)", r"\\fB\1\\fP()", s)
    s = re.sub(r"`([^`]+)`", r"\\fI\1\\fP", s)
    # a new sentence starts a new source line (roff's sentence spacing)
    s = re.sub(r"([a-z0-9)][.!?]) +(?=[A-Z(])", "\\1\n", s)
    out = []
    for sentence in s.split("\n"):
        out.extend(guard(l) for l in textwrap.wrap(
            sentence, 78, break_long_words=False, break_on_hyphens=False))
    return "\n".join(out)


def guard(line):
    """A line must not start with a control character or a space."""
    line = line.strip()
    if line.startswith((".", "'")):
        line = "\\&" + line
    return line


def code_lines(code):
    out = []
    for line in code.expandtabs(8).split("\n"):
        line = esc(line.rstrip())
        if line.startswith((".", "'")):
            line = "\\&" + line
        out.append(line)
    # an empty line in .EX is fine, but keep the block tight
    return [l for l in out if l.strip()] or [""]


def prototype_lines(proto):
    """The prototype wrapped after commas at 72 columns."""
    head, paren, args = proto.partition("(")
    lines = []
    cur = head + paren
    indent = " " * 4
    for part in re.split(r"(?<=,) ", args):
        if len(cur) + 1 + len(part) > 72 and cur.strip():
            lines.append(cur)
            cur = indent + part
        else:
            cur = cur + ("" if cur.endswith("(") else " ") + part
    lines.append(cur)
    return [esc(l) for l in lines]


# ---------------------------------------------------------------- pages


def render(header, page, items, ver):
    funcs = [it for it in items if it[0] == "func"]
    fdoc = next((it[1] for it in items if it[0] == "file"), None)
    if fdoc is None:
        sys.exit("gen-man3.py: %s has no @file comment" % header)
    docs = {}
    for it in funcs:
        if it[1] is None or not it[1][0]:
            sys.exit("gen-man3.py: %s: %s has no doc comment" % (header, it[2]))
        docs[it[2]] = parse_doc(it[1][1])
    for name, d in docs.items():
        if "copydoc" in d:
            d.update({k: v for k, v in docs[d["copydoc"]].items()
                      if k != "copydoc"})
    brief = fdoc.get("brief", "")
    L = []
    L.append('.\\" Generated by man/gen-man3.py from include/tether/%s:'
             % header)
    L.append('.\\" edit the header\'s comments, not this file.')
    L.append('.TH %s 3 "%s" "tether %s" "tether API reference"'
             % (page.upper(), DATE, ver))
    # identifiers are not hyphenated, nor lines stretched between them
    L.append(".nh")
    L.append(".ad l")
    L.append(".SH NAME")
    L.extend(textwrap.wrap(", ".join(esc(f[2]) for f in funcs) + " \\- " +
                           esc(brief.rstrip(".")), 78,
                           break_long_words=False, break_on_hyphens=False))
    L.append(".SH SYNOPSIS")
    L.append(".nf")
    L.append(".B #include <tether/%s>" % header)
    L.append(".PP")
    for f in funcs:
        for line in prototype_lines(f[3]):
            L.append(guard_nf(line))
    L.append(".fi")
    L.append(".PP")
    L.append("Link with")
    L.append(".BR \\-ltether ;")
    L.append(".B pkg\\-config \\-\\-cflags \\-\\-libs tether")
    L.append("gives the flags.")
    L.append(".SH DESCRIPTION")
    L.append(text_line(brief))
    for p in fdoc["body"]:
        L.append(".PP")
        L.append(text_line(p))
    if header != "tether.h":
        L.append(".PP")
        L.append("Error codes, states, reasons, events and the manager and")
        L.append("connection functions are in")
        L.append(".BR libtether (3).")
    L.append(".SH FUNCTIONS")
    # a note (a plain comment) goes with the functions when a function
    # follows it, with the types otherwise; one that reads like code
    # ("typedef ... is in tether.h") is left out.
    items = [it for it in items if it[0] != "section" and
             not (it[0] == "note" and it[1].startswith("typedef "))]
    for k, it in enumerate(items):
        if it[0] == "note":
            nxt = next((x for x in items[k + 1:] if x[0] != "note"), None)
            items[k] = ("fnote" if nxt and nxt[0] == "func" else "note", it[1])
    for it in items:
        if it[0] == "fnote":
            L.append(".PP")
            L.append(text_line(it[1]))
        elif it[0] == "func":
            name, d = it[2], docs[it[2]]
            L.append(".SS %s()" % esc(name))
            L.append(".nf")
            for line in prototype_lines(it[3]):
                L.append(guard_nf("\\fB" + line + "\\fP"))
            L.append(".fi")
            if d.get("brief"):
                L.append(".PP")
                L.append(text_line(d["brief"]))
            for p in d["body"]:
                L.append(".PP")
                L.append(text_line(p))
            for pname, ptext in d["params"]:
                L.append(".TP")
                L.append(".I " + esc(pname))
                L.append(text_line(ptext))
            if d.get("return"):
                L.append(".PP")
                L.append(".B Returns:")
                L.append(text_line(d["return"]))
            if d.get("thread"):
                L.append(".PP")
                L.append(".B Thread:")
                L.append(text_line(d["thread"]))
    types = [it for it in items if it[0] in ("type", "macro", "note")]
    if types:
        L.append(".SH TYPES AND CONSTANTS")
        L.append("As declared in")
        L.append(".IR <tether/%s> ," % header)
        L.append("with their comments.")
        for it in types:
            if it[0] == "note":
                L.append(".PP")
                L.append(text_line(it[1]))
                continue
            doc, code = it[1], it[2]
            if doc is not None and doc[1].strip():
                lines = comment_lines(doc[1])
                if doc[0]:
                    d = parse_doc(doc[1])
                    paras = ([d["brief"]] if d.get("brief") else []) + d["body"]
                else:
                    paras = [" ".join(l.strip() for l in lines)]
                for p in paras:
                    L.append(".PP")
                    L.append(text_line(p))
            L.append(".PP")
            L.append(".EX")
            L.extend(code_lines(code))
            L.append(".EE")
    L.append(".SH SEE ALSO")
    others = [p for h, p in HEADERS if p != page]
    L.append(",\n".join(".BR %s (3)" % p for p in others) + ",")
    L.append(".BR tether (1),")
    L.append(".BR tether.yaml (5)")
    L.append(".PP")
    L.append("The documentation installed with tether,")
    L.append(".I share/doc/tether")
    L.append("under the installation prefix")
    L.append("(\\fI/usr/local/share/doc/tether\\fP after a default")
    L.append('.BR "make install" ;')
    L.append(".I /usr/share/doc/tether")
    L.append("from the Debian package tether\\-tools):")
    L.append(".I architecture.md")
    L.append("(layers, threads, the plug-in ABIs),")
    L.append(".I state\\-machine.md")
    L.append("(every state transition),")
    L.append(".I policies.md")
    L.append("(the reconnect policies)")
    L.append("and")
    L.append(".I transport\\-mqtt.md ,")
    L.append(".I transport\\-ws.md")
    L.append("(the transports and the reasons they report).")
    return "\n".join(L) + "\n"


def guard_nf(line):
    if line.startswith((".", "'")):
        return "\\&" + line
    return line


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "man3")
    os.makedirs(outdir, exist_ok=True)
    ver = version()
    pages = []
    links = []
    seen = {}
    for header, page in HEADERS:
        path = os.path.join(TOP, "include", "tether", header)
        with open(path, encoding="utf-8") as f:
            items = parse_header(f.read())
        with open(os.path.join(outdir, page + ".3"), "w",
                  encoding="utf-8") as f:
            f.write(render(header, page, items, ver))
        pages.append(page + ".3")
        for it in items:
            if it[0] != "func":
                continue
            name = it[2]
            if name in seen:
                sys.exit("gen-man3.py: %s in %s and %s"
                         % (name, seen[name], header))
            seen[name] = header
            with open(os.path.join(outdir, name + ".3"), "w",
                      encoding="utf-8") as f:
                f.write(".so man3/%s.3\n" % page)
            links.append(name + ".3")
    with open(os.path.join(outdir, "local.mk"), "w", encoding="utf-8") as f:
        f.write("# Generated by man/gen-man3.py: the section-3 pages, one per\n"
                "# header, and one .so page per function.\n")
        f.write("TETHER_MAN3_PAGES =")
        for p in pages:
            f.write(" \\\n\tman/man3/%s" % p)
        f.write("\nTETHER_MAN3_LINKS =")
        for p in sorted(links):
            f.write(" \\\n\tman/man3/%s" % p)
        f.write("\n")


if __name__ == "__main__":
    main()
