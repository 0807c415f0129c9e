/**
 * Rewrites what a device serves so it works under `/c/{h}/`: URL-bearing HTML attributes
 * (href, src, action, formaction, poster, srcset, …), `<base href>`, `<meta http-equiv=refresh>`,
 * inline `style` and `<style>` blocks, and CSS `url()`/`@import`. Only root-relative paths and
 * absolute URLs naming the device move; relative URLs already resolve under the prefix. The work
 * is a scan of tags, not a full parse: script bodies are skipped (JavaScript is handled at run
 * time by the injected shim), and anything the scan does not understand is left as it was.
 * @module
 */
import { type DeviceOrigin, urlToProxy } from "./headers.ts";

const URL_ATTRS = new Set([
  "href",
  "src",
  "action",
  "formaction",
  "poster",
  "data",
  "background",
  "cite",
  "longdesc",
  "usemap",
  "manifest",
  "icon",
  "codebase",
  "lowsrc",
  "dynsrc",
  "xlink:href",
]);

/** Rewrites CSS text: `url(...)` and `@import "..."`. */
export function rewriteCss(css: string, prefix: string, device: DeviceOrigin): string {
  return css
    .replace(
      /url\(\s*(['"]?)([^'")]+)\1\s*\)/gi,
      (_m, q, u) => `url(${q}${urlToProxy(u, prefix, device)}${q})`,
    )
    .replace(
      /@import\s+(['"])([^'"]+)\1/gi,
      (_m, q, u) => `@import ${q}${urlToProxy(u, prefix, device)}${q}`,
    );
}

function rewriteSrcset(v: string, prefix: string, device: DeviceOrigin): string {
  return v.split(",").map((part) => {
    const p = part.trim();
    const sp = p.search(/\s/);
    return sp < 0
      ? urlToProxy(p, prefix, device)
      : urlToProxy(p.slice(0, sp), prefix, device) + p.slice(sp);
  }).join(", ");
}

const ATTR = /([^\s"'<>\/=]+)(\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g;

function decodeEntities(s: string): string {
  return s.replace(/&amp;/g, "&").replace(/&#x2f;|&#47;/gi, "/");
}

function rewriteTag(tag: string, prefix: string, device: DeviceOrigin): string {
  const m = /^<([a-zA-Z][a-zA-Z0-9:-]*)/.exec(tag);
  if (!m) return tag;
  const name = m[1].toLowerCase();
  const head = m[0];
  let body = tag.slice(head.length);
  const isRefresh = name === "meta" && /http-equiv\s*=\s*["']?refresh/i.test(body);
  body = body.replace(ATTR, (whole, attr: string, eqPart, dq, sq, bare) => {
    if (!eqPart) return whole;
    const a = attr.toLowerCase();
    const value = dq ?? sq ?? bare ?? "";
    const quote = dq !== undefined ? '"' : sq !== undefined ? "'" : '"';
    let next: string | null = null;
    if (URL_ATTRS.has(a)) next = urlToProxy(decodeEntities(value), prefix, device);
    else if (a === "srcset" || a === "imagesrcset") next = rewriteSrcset(value, prefix, device);
    else if (a === "style") next = rewriteCss(value, prefix, device);
    else if (a === "content" && isRefresh) {
      next = value.replace(
        /(url\s*=\s*)([^;]+)/i,
        (_x: string, p1: string, u: string) =>
          p1 + urlToProxy(u.trim().replace(/^['"]|['"]$/g, ""), prefix, device),
      );
    }
    if (next === null || next === value) return whole;
    const escaped = next.replace(/&/g, "&amp;").replace(
      quote === '"' ? /"/g : /'/g,
      (c) => c === '"' ? "&quot;" : "&#39;",
    );
    return `${attr}=${quote}${escaped}${quote}`;
  });
  return head + body;
}

/** Options of the HTML rewrite. */
export interface HtmlRewriteOptions {
  prefix: string;
  device: DeviceOrigin;
  /** Markup inserted first thing in the document (the run-time shim). */
  inject: string;
}

/** Rewrites an HTML document and injects the shim before any of the page's own scripts. */
export function rewriteHtml(html: string, o: HtmlRewriteOptions): string {
  let out = "";
  let i = 0;
  let injected = false;
  const inject = () => {
    if (injected) return "";
    injected = true;
    return o.inject;
  };
  const tagRe = /<!--[\s\S]*?-->|<![^>]*>|<\/?[a-zA-Z][^>]*>/g;
  let m: RegExpExecArray | null;
  while ((m = tagRe.exec(html))) {
    out += html.slice(i, m.index);
    const tag = m[0];
    i = m.index + tag.length;
    if (tag.startsWith("<!")) {
      out += tag;
      continue;
    }
    const name = (/^<\/?([a-zA-Z][a-zA-Z0-9:-]*)/.exec(tag)?.[1] ?? "").toLowerCase();
    const closing = tag.startsWith("</");
    if (!closing && !injected && name !== "html" && name !== "head") {
      // The first element that is not <html>/<head>: the shim goes right before it.
      out += inject();
    }
    out += closing ? tag : rewriteTag(tag, o.prefix, o.device);
    if (!closing && name === "head") out += inject();
    if (!closing && (name === "script" || name === "style" || name === "textarea")) {
      const end = html.toLowerCase().indexOf(`</${name}`, i);
      const stop = end < 0 ? html.length : end;
      const inner = html.slice(i, stop);
      out += name === "style" ? rewriteCss(inner, o.prefix, o.device) : inner;
      i = stop;
      tagRe.lastIndex = stop;
    }
  }
  out += html.slice(i);
  if (!injected) out = o.inject + out;
  return out;
}
