/**
 * The small script injected first into every proxied HTML page. Camera UIs build URLs at run time
 * (Hikvision's `/ISAPI/…` and `/doc/…`, Dahua's `/RPC2`) and call them with fetch, XMLHttpRequest,
 * WebSocket, EventSource, forms, links and element properties; the shim routes every
 * root-relative or device-absolute URL they use under `/c/{h}/` without knowing the UI. It also
 * keeps cookies the page writes inside the handle's path, refuses the cloud's cookie names and
 * refuses service workers. `location` assignments cannot be intercepted by script; the cloud
 * catches those on arrival (a same-origin request whose Referer is a proxied page is redirected
 * into that page's handle). The shim is a convenience for honest pages, not a security boundary:
 * isolation is enforced by the server (see isolation.ts).
 * @module
 */

/** The shim's configuration. */
export interface ShimConfig {
  /** `/c/{h}`. */
  prefix: string;
  /** Authorities (host[:port]) that name the device itself. */
  deviceAuthorities: string[];
}

/** The script's source, without the `<script>` tag. */
export function shimSource(c: ShimConfig): string {
  const cfg = JSON.stringify({ p: c.prefix, d: c.deviceAuthorities.map((a) => a.toLowerCase()) })
    .replace(/</g, "\\u003c");
  return `(function(){"use strict";var C=${cfg},P=C.p,W=window,L=W.location;
function fix(u){if(u==null)return u;var s=String(u);if(s.charAt(0)==="/"&&s.charAt(1)!=="/"&&s.charAt(1)!=="\\\\"){return s.indexOf(P+"/")===0?s:P+s}
var x;try{x=new URL(s,L.href)}catch(e){return u}var pr=x.protocol;if(!/^(https?|wss?):$/.test(pr))return u;
var same=x.host===L.host,dev=C.d.indexOf(x.host.toLowerCase())>=0||C.d.indexOf(x.hostname.toLowerCase())>=0;
if(!same&&!dev)return u;if(same&&x.pathname.indexOf(P+"/")===0)return s;
var ws=pr==="ws:"||pr==="wss:",secure=L.protocol==="https:";
var base=ws?(secure?"wss://":"ws://")+L.host:L.origin;return base+P+x.pathname+x.search+x.hash}
function wrapCtor(name){var O=W[name];if(!O)return;var N=function(u,a){return a===undefined?new O(fix(u)):new O(fix(u),a)};N.prototype=O.prototype;try{Object.getOwnPropertyNames(O).forEach(function(k){if(!(k in N))try{N[k]=O[k]}catch(e){}})}catch(e){}W[name]=N}
var f=W.fetch;if(f){W.fetch=function(i,o){if(typeof Request!=="undefined"&&i instanceof Request){var n=fix(i.url);if(n!==i.url)i=new Request(n,i)}else{i=fix(i)}return f.call(this,i,o)}}
var xo=XMLHttpRequest.prototype.open;XMLHttpRequest.prototype.open=function(m,u){var a=Array.prototype.slice.call(arguments);a[1]=fix(u);return xo.apply(this,a)};
wrapCtor("WebSocket");wrapCtor("EventSource");wrapCtor("Worker");wrapCtor("SharedWorker");
var wo=W.open;W.open=function(u){var a=Array.prototype.slice.call(arguments);if(u)a[0]=fix(u);return wo.apply(this,a)};
["pushState","replaceState"].forEach(function(k){var h=history[k];history[k]=function(s,t,u){return u==null?h.call(this,s,t):h.call(this,s,t,fix(u))}});
if(navigator.sendBeacon){var sb=navigator.sendBeacon;navigator.sendBeacon=function(u,d){return sb.call(navigator,fix(u),d)}}
var ATTRS={href:1,src:1,action:1,formaction:1,poster:1,data:1};
var sa=Element.prototype.setAttribute;Element.prototype.setAttribute=function(n,v){if(ATTRS[String(n).toLowerCase()])v=fix(v);return sa.call(this,n,v)};
[["HTMLAnchorElement","href"],["HTMLAreaElement","href"],["HTMLLinkElement","href"],["HTMLBaseElement","href"],["HTMLImageElement","src"],["HTMLScriptElement","src"],["HTMLIFrameElement","src"],["HTMLFrameElement","src"],["HTMLEmbedElement","src"],["HTMLSourceElement","src"],["HTMLTrackElement","src"],["HTMLMediaElement","src"],["HTMLInputElement","src"],["HTMLVideoElement","poster"],["HTMLObjectElement","data"],["HTMLFormElement","action"],["HTMLButtonElement","formAction"],["HTMLInputElement","formAction"]].forEach(function(e){var K=W[e[0]];if(!K)return;var d=Object.getOwnPropertyDescriptor(K.prototype,e[1]);if(!d||!d.set)return;Object.defineProperty(K.prototype,e[1],{configurable:true,enumerable:d.enumerable,get:d.get,set:function(v){d.set.call(this,fix(v))}})});
function fixEl(el){if(!el||!el.getAttribute)return;["href","action","formaction"].forEach(function(a){var v=el.getAttribute(a);if(v!=null){var n=fix(v);if(n!==v)sa.call(el,a,n)}})}
document.addEventListener("click",function(e){var t=e.target;while(t&&t.tagName!=="A"&&t.tagName!=="AREA")t=t.parentElement;if(t)fixEl(t)},true);
document.addEventListener("submit",function(e){fixEl(e.target);if(e.submitter)fixEl(e.submitter)},true);
var fs=HTMLFormElement.prototype.submit;HTMLFormElement.prototype.submit=function(){fixEl(this);return fs.call(this)};
var cd=Object.getOwnPropertyDescriptor(Document.prototype,"cookie");if(cd&&cd.set){Object.defineProperty(Document.prototype,"cookie",{configurable:true,enumerable:cd.enumerable,get:function(){return cd.get.call(this)},set:function(v){var s=String(v),nm=s.split("=")[0].trim();if(/^(__host-|__secure-)/i.test(nm)||/^(__host-|__secure-)?nc_/i.test(nm))return;var parts=s.split(";").filter(function(p,i){var k=p.split("=")[0].trim().toLowerCase();return i===0||(k!=="path"&&k!=="domain")});parts.push(" path="+P+"/");cd.set.call(this,parts.join(";"))}})}
if(W.ServiceWorkerContainer){ServiceWorkerContainer.prototype.register=function(){return Promise.reject(new DOMException("service workers are disabled under the Nanodems proxy","SecurityError"))}}
})();`;
}

/** The `<script>` element to inject. */
export function shimTag(c: ShimConfig): string {
  return `<script data-nc-proxy>${shimSource(c)}</script>`;
}
