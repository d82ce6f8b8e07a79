// The part of /api/config the web app's checks read (limits and guidance modes) for given server limits, through
// the server's own publishedLimits (server/schema.ts, what GET /api/config sends): the input of the client tests.
import type { ServerConfig } from '../../client/types.js';
import { GUIDANCE_MODES, publishedLimits, type RequestLimits } from '../../server/schema.js';

export function clientConfigFor(l: RequestLimits): Pick<ServerConfig, 'limits' | 'guidance_modes'> {
  return { guidance_modes: [...GUIDANCE_MODES], limits: publishedLimits(l) };
}
