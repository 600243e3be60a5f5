// A small Markdown renderer for the sandbox chat page: what DingTalk shows in a reply.
//
// Block level: headings, paragraphs (a single newline is a line break, as in a chat),
// fenced code (``` or ~~~, an unclosed fence still renders), lists (ordered, unordered,
// nested by indentation), tables with alignment, blockquotes, horizontal rules.
// Inline: code spans, **bold**, *italic*, ~~strike~~, [links](https://…), bare URLs.
// Every piece of text is HTML-escaped before any markup is added, and links only
// accept http(s) and mailto URLs, so model output can never inject HTML or script.
"use strict";

(function (global) {
  const FENCE = /^(\s{0,3})(`{3,}|~{3,})\s*([\w+#.-]*)\s*$/;
  const HEADING = /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
  const RULE = /^\s{0,3}([-*_])(\s*\1){2,}\s*$/;
  const QUOTE = /^\s{0,3}>\s?(.*)$/;
  const ITEM = /^(\s*)([-*+]|\d{1,9}[.)])\s+(.*)$/;
  const TABLE_SEP = /^\s*\|?\s*:?-{1,}:?\s*(\|\s*:?-{1,}:?\s*)*\|?\s*$/;

  function escapeHtml(text) {
    return text
      .replace(/&/g, "&amp;")
      .replace(/</g, "&lt;")
      .replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;")
      .replace(/'/g, "&#39;");
  }

  function safeUrl(url) {
    return /^(https?:\/\/|mailto:)/i.test(url) ? url : null;
  }

  // Emphasis and links on already-escaped text (no code spans in it).
  function emphasis(text) {
    return text
      .replace(/\[([^\]]+)\]\(([^)\s]+)\)/g, (whole, label, url) => {
        const safe = safeUrl(url.replace(/&amp;/g, "&"));
        return safe === null ? whole : `<a href="${url}" target="_blank" rel="noopener">${label}</a>`;
      })
      .replace(/(^|[\s(（])((?:https?:\/\/)[^\s<)）]+)/g, (whole, lead, url) =>
        `${lead}<a href="${url}" target="_blank" rel="noopener">${url}</a>`)
      .replace(/\*\*(?=\S)([\s\S]*?\S)\*\*/g, "<strong>$1</strong>")
      .replace(/(^|[^\w])__(?=\S)([\s\S]*?\S)__(?!\w)/g, "$1<strong>$2</strong>")
      .replace(/(^|[^*\w])\*(?=[^\s*])([^*]*?[^\s*])\*(?!\*)/g, "$1<em>$2</em>")
      .replace(/(^|[^\w])_(?=[^\s_])([^_]*?[^\s_])_(?!\w)/g, "$1<em>$2</em>")
      .replace(/~~(?=\S)([\s\S]*?\S)~~/g, "<del>$1</del>");
  }

  function inline(raw) {
    // Code spans first: their content is shown literally.
    const parts = raw.split(/(`+)([\s\S]*?[^`])\1(?!`)/);
    let html = "";
    for (let i = 0; i < parts.length; i += 3) {
      html += emphasis(escapeHtml(parts[i]));
      if (i + 2 < parts.length) {
        html += `<code>${escapeHtml(parts[i + 2].trim())}</code>`;
      }
    }
    return html;
  }

  function splitRow(line) {
    let row = line.trim();
    if (row.startsWith("|")) row = row.slice(1);
    if (row.endsWith("|") && !row.endsWith("\\|")) row = row.slice(0, -1);
    return row.split(/(?<!\\)\|/).map((cell) => cell.trim().replace(/\\\|/g, "|"));
  }

  function table(header, separator, rows) {
    const aligns = splitRow(separator).map((cell) => {
      const left = cell.startsWith(":");
      const right = cell.endsWith(":");
      return left && right ? "center" : right ? "right" : left ? "left" : "";
    });
    const cell = (tag, text, index) => {
      const align = aligns[index] ? ` style="text-align:${aligns[index]}"` : "";
      return `<${tag}${align}>${inline(text)}</${tag}>`;
    };
    const head = splitRow(header).map((text, i) => cell("th", text, i)).join("");
    const body = rows
      .map((row) => {
        const cells = splitRow(row);
        const width = Math.max(aligns.length, 1);
        const padded = Array.from({ length: width }, (_, i) => cells[i] ?? "");
        return `<tr>${padded.map((text, i) => cell("td", text, i)).join("")}</tr>`;
      })
      .join("");
    return `<div class="md-table"><table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table></div>`;
  }

  function indentOf(line) {
    return line.match(/^\s*/)[0].replace(/\t/g, "    ").length;
  }

  // A list starting at lines[start]; returns [html, next index].
  function list(lines, start) {
    const first = lines[start].match(ITEM);
    const base = indentOf(lines[start]);
    const ordered = /\d/.test(first[2]);
    const items = [];
    let i = start;
    while (i < lines.length) {
      const match = lines[i].match(ITEM);
      if (!match || indentOf(lines[i]) !== base || /\d/.test(match[2]) !== ordered) break;
      const body = [match[3]];
      i += 1;
      while (i < lines.length && lines[i].trim() !== "") {
        const deeper = indentOf(lines[i]) > base;
        if (!deeper && (ITEM.test(lines[i]) || !/\S/.test(lines[i]))) break;
        if (!deeper && (FENCE.test(lines[i]) || HEADING.test(lines[i]))) break;
        body.push(deeper ? lines[i].slice(Math.min(indentOf(lines[i]), base + 4)) : lines[i]);
        i += 1;
      }
      items.push(body);
      // A blank line between items keeps the list going.
      if (i + 1 < lines.length && lines[i] !== undefined && lines[i].trim() === "") {
        const next = lines[i + 1].match(ITEM);
        if (next && indentOf(lines[i + 1]) === base && /\d/.test(next[2]) === ordered) i += 1;
      }
    }
    const rendered = items.map((body) => {
      const nested = body.slice(1).some((line) => ITEM.test(line) || FENCE.test(line));
      const html = nested ? blocks(body, true) : inline(body.join("\n")).replace(/\n/g, "<br>");
      return `<li>${html}</li>`;
    });
    const startAt = ordered ? parseInt(first[2], 10) : 1;
    const open = ordered ? (startAt !== 1 ? `<ol start="${startAt}">` : "<ol>") : "<ul>";
    return [`${open}${rendered.join("")}${ordered ? "</ol>" : "</ul>"}`, i];
  }

  function blocks(lines, tight) {
    const out = [];
    let paragraph = [];
    const flush = () => {
      if (paragraph.length) {
        const html = paragraph.map(inline).join("<br>");
        out.push(tight && out.length === 0 ? html : `<p>${html}</p>`);
        paragraph = [];
      }
    };
    let i = 0;
    while (i < lines.length) {
      const line = lines[i];
      const fence = line.match(FENCE);
      if (fence) {
        flush();
        const marker = fence[2];
        const body = [];
        i += 1;
        while (i < lines.length && !lines[i].trim().startsWith(marker)) {
          body.push(lines[i]);
          i += 1;
        }
        i += 1; // the closing fence (or the end)
        const lang = fence[3] ? ` data-lang="${escapeHtml(fence[3])}"` : "";
        out.push(`<pre${lang}><code>${escapeHtml(body.join("\n"))}</code></pre>`);
        continue;
      }
      if (line.trim() === "") {
        flush();
        i += 1;
        continue;
      }
      const heading = line.match(HEADING);
      if (heading) {
        flush();
        const level = heading[1].length;
        out.push(`<h${level}>${inline(heading[2])}</h${level}>`);
        i += 1;
        continue;
      }
      if (RULE.test(line)) {
        flush();
        out.push("<hr>");
        i += 1;
        continue;
      }
      if (QUOTE.test(line)) {
        flush();
        const quoted = [];
        while (i < lines.length && QUOTE.test(lines[i])) {
          quoted.push(lines[i].match(QUOTE)[1]);
          i += 1;
        }
        out.push(`<blockquote>${blocks(quoted, false)}</blockquote>`);
        continue;
      }
      if (line.includes("|") && i + 1 < lines.length && TABLE_SEP.test(lines[i + 1]) &&
          lines[i + 1].includes("-")) {
        flush();
        const header = line;
        const separator = lines[i + 1];
        const rows = [];
        i += 2;
        while (i < lines.length && lines[i].includes("|") && lines[i].trim() !== "") {
          rows.push(lines[i]);
          i += 1;
        }
        out.push(table(header, separator, rows));
        continue;
      }
      if (ITEM.test(line) && !(paragraph.length && /^\d/.test(line.trim()) && !line.match(ITEM)[2].startsWith("1"))) {
        flush();
        const [html, next] = list(lines, i);
        out.push(html);
        i = next;
        continue;
      }
      paragraph.push(line);
      i += 1;
    }
    flush();
    return out.join("");
  }

  function renderMarkdown(source) {
    const text = String(source ?? "").replace(/\r\n?/g, "\n");
    return blocks(text.split("\n"), false);
  }

  global.renderMarkdown = renderMarkdown;
  global.escapeHtml = escapeHtml;
})(typeof window !== "undefined" ? window : globalThis);
