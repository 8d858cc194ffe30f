// A real OpenID provider for the sign-in tests: oidc-provider (a certified implementation), on
// the port PORT, with one client (CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, POST_LOGOUT_URI) and
// the accounts of the JSON file ACCOUNTS (read at every lookup, so a test can change a person's
// groups): {"<login>": {"password": …, "sub": …, "claims": {…}, "amr": ["mfa"]?}}. An account's
// employee_number is given by the userinfo endpoint only, not in the ID token.
//
// Its sign-in is a minimal interaction a test drives over HTTP: GET /interaction/<uid> is a
// form; POST it with login and password (a wrong password: 401) or with deny=1 (the person
// refuses: access_denied), and the provider goes on with the login and the consent granted
// together. The login's `amr` is the account's (its ID token carries it).
import { readFileSync } from 'node:fs';

import Provider from 'oidc-provider';

const env = process.env;
const port = Number(env.PORT);
const issuer = `http://127.0.0.1:${port}`;
const accounts = () => JSON.parse(readFileSync(env.ACCOUNTS, 'utf8'));

const provider = new Provider(issuer, {
  clients: [{
    client_id: env.CLIENT_ID,
    client_secret: env.CLIENT_SECRET,
    redirect_uris: [env.REDIRECT_URI],
    post_logout_redirect_uris: [env.POST_LOGOUT_URI],
    grant_types: ['authorization_code'],
    response_types: ['code'],
  }],
  claims: {
    openid: ['sub', 'amr', 'auth_time'],
    profile: ['name', 'preferred_username', 'employee_number', 'groups'],
    email: ['email'],
  },
  cookies: { keys: ['oidc-test-cookie-key'] },
  pkce: { required: () => true },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, id) {
    const found = Object.values(accounts()).find((account) => account.sub === id);
    if (!found) return undefined;
    // the employee number only from the userinfo endpoint: Duban asks it for what the ID token lacks
    return {
      accountId: id,
      claims: async (use) => {
        const { employee_number: employeeNumber, ...rest } = found.claims;
        return use === 'userinfo' && employeeNumber ? { sub: id, ...rest, employee_number: employeeNumber }
          : { sub: id, ...rest };
      },
    };
  },
});

async function form(req) {
  let body = '';
  for await (const chunk of req) body += chunk;
  return Object.fromEntries(new URLSearchParams(body));
}

provider.use(async (ctx, next) => {
  const match = ctx.path.match(/^\/interaction\/([^/]+)$/);
  if (!match) return next();
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  if (ctx.method === 'GET') {
    ctx.type = 'html';
    ctx.body = `<form method="post" action="/interaction/${details.uid}">
      <input name="login"><input name="password" type="password"><button>Sign in</button></form>`;
    return undefined;
  }
  const data = await form(ctx.req);
  if (data.deny) {
    return provider.interactionFinished(ctx.req, ctx.res, {
      error: 'access_denied', error_description: 'the person refused',
    }, { mergeWithLastSubmission: false });
  }
  const account = accounts()[data.login];
  if (!account || account.password !== data.password) {
    ctx.status = 401;
    ctx.body = 'wrong login or password';
    return undefined;
  }
  const grant = new provider.Grant({ accountId: account.sub, clientId: details.params.client_id });
  grant.addOIDCScope(details.params.scope);
  const grantId = await grant.save();
  const login = { accountId: account.sub, remember: false, ...(account.amr ? { amr: account.amr } : {}) };
  return provider.interactionFinished(ctx.req, ctx.res, { login, consent: { grantId } },
    { mergeWithLastSubmission: false });
});

provider.listen(port, '127.0.0.1', () => console.log(`oidc-provider ready at ${issuer}`));
