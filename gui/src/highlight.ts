// Python syntax highlighting: one regular-expression pass over the whole file (so strings
// and comments that span lines come out right), then cut into lines. A token that spans
// lines (a triple-quoted string, a backslash continuation) is closed at each line's end
// and re-opened on the next, so every line's HTML stands alone.
//
// Written for the viewer instead of using highlight.js: that took ~0.5 s for a 5,000-line
// file, this takes a few ms, and a profile's source only needs the lexical classes below.
// The class names are highlight.js's (hljs-keyword, ...), so its themes apply.
import { esc } from "./util";

const KEYWORDS = new Set(("and as assert async await break class continue def del elif else except finally for " +
  "from global if import in is lambda nonlocal not or pass raise return try while with yield").split(" "));
const LITERALS = new Set(["True", "False", "None", "Ellipsis", "NotImplemented"]);
const BUILTINS = new Set(("abs all any ascii bin bool breakpoint bytearray bytes callable chr classmethod compile " +
  "complex delattr dict dir divmod enumerate eval exec filter float format frozenset getattr globals hasattr hash " +
  "help hex id input int isinstance issubclass iter len list locals map max memoryview min next object oct open " +
  "ord pow print property range repr reversed round set setattr slice sorted staticmethod str sum super tuple type " +
  "vars zip __import__ self cls BaseException Exception ArithmeticError AssertionError AttributeError " +
  "BufferError EOFError ImportError ModuleNotFoundError IndexError KeyError KeyboardInterrupt LookupError " +
  "MemoryError NameError NotImplementedError OSError OverflowError RecursionError RuntimeError StopIteration " +
  "SyntaxError SystemError SystemExit TypeError ValueError ZeroDivisionError FileNotFoundError PermissionError " +
  "TimeoutError ConnectionError").split(" "));

// Alternatives, in order: comment, string (with prefix; triple-quoted first), number,
// decorator, identifier. Text between matches is plain.
const TOKEN = new RegExp([
  /(#[^\n]*)/.source,
  /((?:[rRbBuUfF]{1,2})?(?:'''(?:[^'\\]|\\[\s\S]|'(?!''))*(?:'''|$)|"""(?:[^"\\]|\\[\s\S]|"(?!""))*(?:"""|$)|'(?:[^'\\\n]|\\[\s\S])*(?:'|(?=\n)|$)|"(?:[^"\\\n]|\\[\s\S])*(?:"|(?=\n)|$)))/.source,
  /((?:\b0[xX][\da-fA-F_]+|\b0[oO][0-7_]+|\b0[bB][01_]+|(?:\b\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][+-]?\d[\d_]*)?[jJ]?)\b)/.source,
  /(@[A-Za-z_][\w.]*)/.source,
  /([A-Za-z_\u00c0-\uffff][\w\u00c0-\uffff]*)/.source,
].join("|"), "g");

/** Beyond this size a file is shown escaped but not highlighted. */
const MAX_CHARS = 4_000_000;

function span(cls: string, text: string): string {
  const t = esc(text);
  if (!text.includes("\n")) return `<span class="${cls}">${t}</span>`;
  return t.split("\n").map((p) => (p ? `<span class="${cls}">${p}</span>` : "")).join("\n");
}

export function highlightPython(src: string): string {
  let out = "";
  let last = 0;
  let after: "def" | "class" | null = null;
  TOKEN.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = TOKEN.exec(src)) !== null) {
    if (m[0] === "") { TOKEN.lastIndex++; continue; }
    const gap = src.slice(last, m.index);
    out += esc(gap);
    last = TOKEN.lastIndex;
    if (m[1] !== undefined) out += span("hljs-comment", m[1]);
    else if (m[2] !== undefined) out += span("hljs-string", m[2]);
    else if (m[3] !== undefined) { out += span("hljs-number", m[3]); after = null; continue; }
    else if (m[4] !== undefined) {
      // a decorator starts its line; elsewhere "@" is matrix multiplication
      const nl = src.lastIndexOf("\n", m.index - 1);
      out += /^[ \t]*$/.test(src.slice(nl + 1, m.index)) ? span("hljs-meta", m[4]) : esc(m[4]);
    } else {
      const w = m[5];
      if (after !== null && /^[ \t]*$/.test(gap)) {
        out += span(after === "def" ? "hljs-title function_" : "hljs-title class_", w);
        after = null;
        continue;
      }
      if (KEYWORDS.has(w)) {
        out += span("hljs-keyword", w);
        after = w === "def" ? "def" : w === "class" ? "class" : null;
        continue;
      }
      if (LITERALS.has(w)) out += span("hljs-literal", w);
      else if (BUILTINS.has(w) && src.charCodeAt(m.index - 1) !== 46 /* . */) out += span("hljs-built_in", w);
      else out += w;
    }
    after = null;
  }
  return out + esc(src.slice(last));
}

/** Each line's HTML, highlighted in the context of the whole file. */
export function highlightLines(lines: string[]): string[] {
  const src = lines.join("\n");
  if (src.length > MAX_CHARS) return lines.map(esc);
  let out: string[];
  try {
    out = highlightPython(src).split("\n");
  } catch {
    return lines.map(esc);
  }
  return out.length === lines.length ? out : lines.map(esc);
}
