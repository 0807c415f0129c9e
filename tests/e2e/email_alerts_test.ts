// Email alerts end to end: the real cloud with NC_SMTP_URL (a password in the environment, never
// on a command line) and a real mail server (aiosmtpd) that offers STARTTLS with a certificate
// from the company's authority in the machine's store, and requires sign-in. An admin adds
// `mailto:` addresses as a webhook; "Send test" and a device going down each arrive as an email
// over TLS, signed in, from the default sender; the delivery log shows the server's 250; in
// Chromium, addresses added on the page get their test. Invitations and password links go to
// their person by email, and the invite dialog says so. A cloud
// without a mail server refuses `mailto:` with what to do; a bad address is a 400 naming it. A
// tenant's sends by hand (tests, emailed links) stop at the hour's budget, another tenant's not.
import { assert, assertEquals, assertStringIncludes } from "../_fixtures/assert.ts";
import { run, Stack } from "../_fixtures/stack.ts";
import { MailServer } from "../_fixtures/smtp.ts";
import { until, untilValue } from "../_fixtures/until.ts";
import { startConnectProxy } from "../_fixtures/connect_proxy.ts";
import { createCA, issueServerCert } from "../../src/shared/crypto/pki.ts";
import { NO_MAIL_FORMAT, NO_MAIL_SERVER } from "../../src/cloud/api/webhooks.ts";
import {
  SEND_BUDGET_SPENT,
  SENDS_PER_TENANT_PER_HOUR,
} from "../../src/cloud/tenancy/send_budget.ts";
import { accessibilityViolations, launchBrowser, signedInContext } from "../_fixtures/browser.ts";

const AUTH = { user: "alerts@example.com", password: `pw-${crypto.randomUUID()}` };

/** A `mailto:ops@example.com` webhook for device.down, added with `token`: its id. */
async function mailtoHook(stack: Stack, token: string): Promise<string> {
  const r = await stack.api("POST", "/api/webhooks", token, {
    url: "mailto:ops@example.com",
    events: ["device.down"],
  });
  assertEquals(r.status, 201);
  return r.json.id as string;
}

/**
 * A mail server that offers STARTTLS with a certificate for `name` from the company's authority
 * (`dir/store.pem`, for the cloud's SSL_CERT_FILE) and requires sign-in with AUTH.
 */
async function companyMailServer(name: string): Promise<{ dir: string; mail: MailServer }> {
  const dir = await Deno.makeTempDir({ prefix: "nc-mail-ca-" });
  const company = await createCA({ commonName: "Company internal CA (test)" });
  await Deno.writeTextFile(`${dir}/store.pem`, company.certPem);
  const leaf = await issueServerCert({ ca: company, commonName: name, hostnames: [name] });
  const mail = await MailServer.start({
    tls: { cert: leaf.certPem, key: leaf.keyPem },
    auth: AUTH,
  });
  return { dir, mail };
}

Deno.test("email alerts: mailto: webhooks send the test and a device.down as email over STARTTLS with sign-in; the log shows 250; a cloud without --smtp refuses mailto:", async () => {
  const { dir, mail } = await companyMailServer("127.0.0.1");
  const stack = await Stack.start({
    cloudArgs: ["--webhook-retry", "300ms"],
    cloudEnv: {
      NC_SMTP_URL: mail.url(AUTH),
      SSL_CERT_FILE: `${dir}/store.pem`,
      SSL_CERT_DIR: `${dir}/none`,
    },
  });
  const plain = await Stack.start();
  stack.defer(() => mail.close());
  stack.defer(() => Deno.remove(dir, { recursive: true }));
  try {
    // The start says where mail goes and that the server took the sign-in; no password.
    await stack.cloud.waitFor(/the mail server is ready for email alerts/);
    assert(
      !stack.cloud.lines.some((l) => l.includes(AUTH.password)),
      "the password is in no log line",
    );

    // A device port that is up, to be stopped later.
    const device = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    let deviceOpen = true;
    stack.defer(() => Promise.resolve(deviceOpen && device.close()));
    (async () => {
      try {
        for await (const c of device) c.close();
      } catch { /* closed */ }
    })();
    const q = await stack.quickstart([device.addr.port]);
    const call = (method: string, path: string, body?: unknown) =>
      stack.api(method, path, q.apiToken, body);
    const bad = await call("POST", "/api/webhooks", {
      url: "mailto:ops@example.com%0D%0ABcc:x@example.com",
      events: ["device.down"],
    });
    assertEquals(bad.status, 400);
    assertStringIncludes(bad.json.message, "is not an email address");

    const hook = await call("POST", "/api/webhooks", {
      url: "mailto:Ops@Example.com, oncall@example.com",
      events: ["device.down"],
    });
    assertEquals(hook.status, 201, JSON.stringify(hook.json));
    assertEquals(hook.json.kind, "email");
    assertEquals(hook.json.url, "mailto:Ops@example.com,oncall@example.com");
    assertEquals(hook.json.secret, undefined, "an email is not signed: no secret to show");
    assertStringIncludes(hook.json.note, "Email alerts go to Ops@example.com, oncall@example.com");
    // The audit log keeps the addresses' domains, as it keeps a webhook's origin only.
    const created = await call("GET", "/api/audit?action=webhook.create&limit=5");
    assertEquals(created.json.items[0].detail.url, "mailto:…@example.com");

    assertEquals((await call("POST", `/api/webhooks/${hook.json.id}/test`, {})).status, 202);
    const [test] = await untilValue(
      "the test email",
      () => Promise.resolve(mail.withSubject("test email")),
      20_000,
      100,
    );
    assertEquals(test.tls, true, "over STARTTLS");
    assertEquals(test.login, AUTH.user);
    assertEquals(test.to, ["Ops@example.com", "oncall@example.com"]);
    assertEquals(test.headers.from, "Nanodems Connector <alerts@[127.0.0.1]>");
    assertEquals(test.headers["x-nanodems-event"], "webhook.test");
    assertStringIncludes(test.text!, "email alerts to this address work");
    assertStringIncludes(test.text!, `Events: ${stack.url}/events`);

    const log = async () =>
      (await call("GET", `/api/webhooks/${hook.json.id}/deliveries`)).json.items as {
        eventType: string;
        state: string;
        attempts: { status: number | null; error: string }[];
      }[];
    await until(
      "the test recorded delivered with the server's 250",
      async () =>
        (await log()).some((d) => d.state === "delivered" && d.attempts[0].status === 250),
      20_000,
      100,
    );

    // The device's port stops answering: one device.down, as an email.
    const e = await stack.enroll(q.enrollmentToken);
    assertEquals(e.code, 0, e.stderr);
    await stack.runAgent(e.state, true, { NC_REACHABILITY_INTERVAL: "500ms" });
    await until(
      "the port up",
      async () => (await call("GET", `/api/sites/${q.siteId}/reachability`)).json.up === 1,
      20_000,
      100,
    );
    device.close();
    deviceOpen = false;
    const [down] = await untilValue(
      "the device.down email",
      () => Promise.resolve(mail.withSubject("Device port down")),
      20_000,
      100,
    );
    assertStringIncludes(down.headers.subject, `Device port down: `);
    assertStringIncludes(down.text!, "Device port down");
    assertEquals(down.headers["auto-submitted"], "auto-generated");
    const list = (await call("GET", "/api/webhooks")).json.items;
    assertEquals(list[0].kind, "email");
    assertEquals(list[0].health.state, "ok");

    // The console's page offers mailto: on this cloud.
    const admin = await stack.addUser(q.tenantId, "admin");
    const cookie = await stack.signIn(admin.email, admin.password);
    const page = await (await fetch(`${stack.url}/webhooks`, { headers: { cookie } })).text();
    assertStringIncludes(page, "Webhooks and email");
    assertStringIncludes(page, 'aria-label="Email to Ops@example.com,oncall@example.com"');
    // In Chromium: addresses added on the page (no secret to show: it says where mail goes),
    // and its "Send test" arrives.
    const browser = await launchBrowser();
    stack.defer(() => browser.close());
    const context = await signedInContext(browser, stack.url, cookie);
    const tab = await context.newPage();
    await tab.goto(`${stack.url}/webhooks`);
    await tab.fill("#webhook-url", "mailto:team@example.com");
    await tab.click("text=Add webhook");
    const added = '[data-webhook][aria-label="Email to team@example.com"]';
    await tab.waitForSelector(added);
    await tab.waitForSelector("text=Email alerts go to team@example.com");
    assertEquals(await tab.locator("#secret-dialog[open]").count(), 0);
    assertEquals(await accessibilityViolations(tab), []);
    await tab.click(`${added} >> text=Send test`);
    const [fromPage] = await untilValue(
      "the page's test email",
      () =>
        Promise.resolve(
          mail.got.filter((m) => m.to.includes("team@example.com")).length
            ? mail.got.filter((m) => m.to.includes("team@example.com"))
            : null,
        ),
      20_000,
      100,
    );
    assertEquals(fromPage.headers.subject, "Nanodems Connector: test email");

    // Invitations and password links go to their person by email too.
    const invite = await call("POST", "/api/users", {
      email: "new.colleague@example.com",
      role: "operator",
    });
    assertEquals([invite.status, invite.json.emailed], [201, true], JSON.stringify(invite.json));
    assertStringIncludes(invite.json.note, "An email with this link went to new.colleague@");
    const [invitation] = await untilValue(
      "the invitation",
      () => Promise.resolve(mail.withSubject("You are invited to Demo on Nanodems Connector")),
      20_000,
      100,
    );
    assertEquals(invitation.to, ["new.colleague@example.com"]);
    assertStringIncludes(
      invitation.text!,
      `Set your password and sign in: ${invite.json.inviteUrl}`,
    );
    assertStringIncludes(
      invitation.text!,
      "invited you to Demo on Nanodems Connector, as operator",
    );
    const opened = await fetch(invite.json.inviteUrl);
    assertEquals(opened.status, 200);
    await opened.body?.cancel();
    const reset = await call("POST", `/api/users/${invite.json.user.id}/password-link`, {});
    assertEquals([reset.status, reset.json.emailed], [201, true]);
    await untilValue(
      "the password link",
      () => Promise.resolve(mail.withSubject("Set a new password for Demo")),
      20_000,
      100,
    );
    // In Chromium, the Team page's invite dialog says where the link went.
    await tab.goto(`${stack.url}/team`);
    await tab.fill("#invite-email", "second@example.com");
    await tab.click('form[aria-label="Invite a user"] button[type=submit]');
    await tab.waitForSelector("#secret-dialog[open]");
    assertStringIncludes(
      (await tab.textContent("#secret-dialog .note"))!,
      "An email with this link went to second@example.com",
    );
    await untilValue(
      "the page's invitation",
      () => Promise.resolve(mail.got.some((m) => m.to.includes("second@example.com")) || null),
      20_000,
      100,
    );

    // A cloud without --smtp: mailto: is refused with what to do.
    const p = await plain.quickstart([9]);
    const refused = await plain.api("POST", "/api/webhooks", p.apiToken, {
      url: "mailto:ops@example.com",
      events: ["device.down"],
    });
    assertEquals([refused.status, refused.json.message], [400, NO_MAIL_SERVER]);
  } finally {
    await plain.stop();
    await stack.stop();
  }
});

Deno.test("email alerts: a wrong password is said at start, on the delivery with the server's 535, and on an invitation (its link still given)", async () => {
  const mail = await MailServer.start({ auth: AUTH });
  const stack = await Stack.start({
    cloudArgs: ["--webhook-retry", "300ms"],
    cloudEnv: {
      NC_SMTP_URL: mail.url({ user: AUTH.user, password: "not-the-password" }),
      NC_MAIL_FROM: "Cameras <cameras@example.com>",
    },
  });
  stack.defer(() => mail.close());
  try {
    const line = await stack.cloud.waitFor(/the mail server cannot be used yet/);
    assertStringIncludes(line, "refused the sign-in (535");
    const q = await stack.quickstart([9]);
    await stack.api(
      "POST",
      `/api/webhooks/${await mailtoHook(stack, q.apiToken)}/test`,
      q.apiToken,
      {},
    );
    const health = await untilValue(
      "the webhook failing",
      async () => {
        const h = (await stack.api("GET", "/api/webhooks", q.apiToken)).json.items[0].health;
        return h.state === "failing" ? h : null;
      },
      20_000,
      100,
    );
    assertEquals(health.lastError.status, 535);
    assertStringIncludes(health.summary, "refused the sign-in (535");
    assertEquals(mail.got.length, 0);
    // An invitation still gives the admin its link, and says the email did not go.
    const invite = await stack.api("POST", "/api/users", q.apiToken, {
      email: "new.colleague@example.com",
      role: "viewer",
    });
    assertEquals([invite.status, invite.json.emailed], [201, false]);
    assertStringIncludes(invite.json.emailError, "refused the sign-in (535");
    assertStringIncludes(invite.json.note, "could not be sent");
    assert(invite.json.inviteUrl.startsWith(`${stack.url}/`), invite.json.inviteUrl);
    assert(
      !stack.cloud.lines.some((l) => l.includes("not-the-password")),
      "the password is in no log line",
    );
  } finally {
    await stack.stop();
  }
});

/** `connector cloud admin mail test …` with `env`: its exit code and output. */
async function mailTest(args: string[], env: Record<string, string>) {
  const dir = await Deno.makeTempDir({ prefix: "nc-mail-test-" });
  try {
    return await run(
      ["cloud", "admin", "mail", "test", "--data-dir", dir, ...args],
      { NC_STORE: "mongodb://127.0.0.1:9/unused", ...env },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("connector cloud admin mail test: sends one through NC_SMTP_URL (any store), says the server's reply; a wrong password or no server is said, the password never", async () => {
  const mail = await MailServer.start({ auth: AUTH });
  try {
    const ok = await mailTest(["--to", "ops@example.com"], {
      NC_SMTP_URL: mail.url(AUTH),
      NC_MAIL_FROM: "Cameras <cameras@example.com>",
    });
    assertEquals(ok.code, 0, ok.stderr);
    assertStringIncludes(ok.stderr, "sending a test email to ops@example.com through smtp://");
    assertStringIncludes(ok.stdout, "ops@example.com");
    assertStringIncludes(ok.stdout, "250");
    assertEquals((await mail.received(1)).length, 1);
    assertEquals(mail.got[0].headers.subject, "Nanodems Connector: test email");
    assertEquals(mail.got[0].from, "cameras@example.com");
    assertEquals(mail.got[0].login, AUTH.user);

    const wrong = await mailTest(["--to", "ops@example.com"], {
      NC_SMTP_URL: mail.url({ user: AUTH.user, password: "not-the-password" }),
    });
    assertEquals(wrong.code, 1);
    assertStringIncludes(wrong.stderr, "refused the sign-in (535");
    assert(!`${wrong.stdout}${wrong.stderr}`.includes("not-the-password"), "no password shown");

    const none = await mailTest(["--to", "ops@example.com"], {});
    assertEquals(none.code, 2);
    assertStringIncludes(none.stderr, "no mail server: give the cloud's own, in NC_SMTP_URL");
    const bad = await mailTest(["--to", "ops@example.com%0ABcc:x@example.com"], {
      NC_SMTP_URL: mail.url(AUTH),
    });
    assertEquals(bad.code, 2);
    assertStringIncludes(bad.stderr, "--to:");
    assertEquals(mail.got.length, 1);
  } finally {
    await mail.close();
  }
});

Deno.test("a tenant's sends by hand: after 100 test deliveries and emailed links within the hour, 'Send test' is a 429 saying so and an invitation's link is given, not emailed; another tenant's budget is its own; an email alert takes no format", async () => {
  const mail = await MailServer.start();
  const stack = await Stack.start({ cloudEnv: { NC_SMTP_URL: mail.url() } });
  stack.defer(() => mail.close());
  try {
    const a = await stack.quickstart([9], "Acme");
    const b = await stack.quickstart([9], "Bolt");
    const hookOf = (token: string) => mailtoHook(stack, token);
    const hook = await hookOf(a.apiToken);
    // An email alert takes no format, at creation or later.
    const chat = await stack.api("PATCH", `/api/webhooks/${hook}`, a.apiToken, { format: "slack" });
    assertEquals([chat.status, chat.json.message], [400, NO_MAIL_FORMAT]);
    const edited = await stack.api("PATCH", `/api/webhooks/${hook}`, a.apiToken, {
      events: ["device.up"],
    });
    assertEquals([edited.status, edited.json.events, edited.json.sendsAs], [
      200,
      ["device.up"],
      "email",
    ]);
    const first = await stack.api("POST", "/api/users", a.apiToken, {
      email: "first@example.com",
      role: "viewer",
    });
    assertEquals([first.status, first.json.emailed], [201, true]);
    for (let i = 1; i < SENDS_PER_TENANT_PER_HOUR; i++) {
      const r = await stack.api("POST", `/api/webhooks/${hook}/test`, a.apiToken, {});
      assertEquals(r.status, 202, `test ${i}`);
    }
    const over = await stack.api("POST", `/api/webhooks/${hook}/test`, a.apiToken, {});
    assertEquals(over.status, 429);
    assertEquals(over.json.error, "rate_limited");
    assertEquals(over.json.message, SEND_BUDGET_SPENT);
    const late = await stack.api("POST", "/api/users", a.apiToken, {
      email: "late@example.com",
      role: "viewer",
    });
    assertEquals([late.status, late.json.emailed], [201, false], "made, not emailed");
    assertEquals(late.json.emailError, SEND_BUDGET_SPENT);
    assertStringIncludes(late.json.note, "send them this link yourself");
    assert(late.json.inviteUrl.startsWith(`${stack.url}/`), late.json.inviteUrl);

    // Bolt's admins have their own hour.
    const other = await stack.api(
      "POST",
      `/api/webhooks/${await hookOf(b.apiToken)}/test`,
      b.apiToken,
      {},
    );
    assertEquals(other.status, 202);
    // What was sent arrives; nothing over the budget was.
    await until(
      "the invitation and the tests",
      () => mail.got.length === SENDS_PER_TENANT_PER_HOUR + 1,
      30_000,
    );
    assert(
      !mail.got.some((m) => m.to.includes("late@example.com")),
      "the late invite is not mailed",
    );
  } finally {
    await stack.stop();
  }
});

Deno.test("email through the company's outbound proxy (NC_WEBHOOK_PROXY with credentials): the cloud reaches a mail relay whose name exists only behind the proxy, STARTTLS verified against that name; admin mail test too; a wrong proxy password is said (407), no password in any output", async () => {
  const { dir, mail } = await companyMailServer("mail.corp.test");
  const proxyAuth = { user: "cloud", password: "pr0xy:p@ss/1" };
  // The relay's name resolves nowhere: only the proxy knows where it is.
  const proxy = startConnectProxy(proxyAuth, { "mail.corp.test:587": mail.port });
  const env = {
    NC_SMTP_URL: `smtp://${encodeURIComponent(AUTH.user)}:${
      encodeURIComponent(AUTH.password)
    }@mail.corp.test:587`,
    NC_WEBHOOK_PROXY: proxy.url,
    SSL_CERT_FILE: `${dir}/store.pem`,
    SSL_CERT_DIR: `${dir}/none`,
  };
  const stack = await Stack.start({ cloudEnv: env });
  stack.defer(() => mail.close());
  stack.defer(() => proxy.close());
  stack.defer(() => Deno.remove(dir, { recursive: true }));
  try {
    await stack.cloud.waitFor(/the mail server is ready for email alerts/);
    const q = await stack.quickstart([9]);
    await stack.api(
      "POST",
      `/api/webhooks/${await mailtoHook(stack, q.apiToken)}/test`,
      q.apiToken,
      {},
    );
    await until("the test email", () => mail.got.length === 1, 20_000, 100);
    assertEquals(mail.got[0].to, ["ops@example.com"]);
    assert(mail.got[0].tls, "STARTTLS through the tunnel");
    assertEquals(mail.got[0].login, AUTH.user);
    assert(proxy.carried.length >= 2, "the start's check and the test went through the proxy");
    assert(proxy.carried.every((c) => c === "mail.corp.test:587"), proxy.carried.join());
    const basic = `Basic ${btoa(`${proxyAuth.user}:${proxyAuth.password}`)}`;
    assert(proxy.credentials.every((c) => c === basic), "the proxy's credentials, decoded right");

    const sent = await mailTest(["--to", "ops@example.com"], env);
    assertEquals(sent.code, 0, sent.stderr);
    assertStringIncludes(sent.stderr, `(by the proxy http://127.0.0.1:${proxy.port})`);
    assertEquals((await mail.received(2)).length, 2);

    const wrong = await mailTest(["--to", "ops@example.com"], {
      ...env,
      NC_WEBHOOK_PROXY: `http://cloud:not-the-password@127.0.0.1:${proxy.port}`,
    });
    assertEquals(wrong.code, 1);
    assertStringIncludes(
      wrong.stderr,
      `the proxy http://127.0.0.1:${proxy.port} did not open a way to the mail server smtp://`,
    );
    assertStringIncludes(wrong.stderr, "it wants other credentials (407)");
    const everything = [...stack.cloud.lines, sent.stdout, sent.stderr, wrong.stdout, wrong.stderr]
      .join("\n");
    for (const secret of [proxyAuth.password, AUTH.password, "not-the-password"]) {
      assert(!everything.includes(secret), "no password in any output");
    }
  } finally {
    await stack.stop();
  }
});
