import fp from 'fastify-plugin';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';

/**
 * The OpenAPI document, generated from the routes' TypeBox schemas, and its UI at /docs.
 * Declared 3.1.0: TypeBox emits JSON Schema 2020-12 keywords (numeric `exclusiveMinimum`, `const`,
 * `type: 'null'`) that 3.0's schema dialect rejects, so validators and client generators would.
 */
export default fp(async (app) => {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Capillary API', version: '0.1.0', description: 'Queue, train and compare 3D vessel segmentation experiments.' },
      components: { securitySchemes: { apiKey: { type: 'http', scheme: 'bearer' } } },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
}, { name: 'openapi' });
