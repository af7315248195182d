import fp from 'fastify-plugin';
import { ViewerService, type ViewerOptions } from '../../services/viewer.ts';

declare module 'fastify' {
  interface FastifyInstance {
    viewer: ViewerService;
  }
}

/** The viewer's caches and limits: one per server, shared by the volume routes. */
export default fp<ViewerOptions>(async (app, opts) => {
  app.decorate('viewer', new ViewerService(app.db, opts));
}, { name: 'viewer', dependencies: ['services'] });
