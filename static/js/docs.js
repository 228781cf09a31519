// Swagger UI over our own OpenAPI document; every asset is served locally.
window.ui = SwaggerUIBundle({ url: "/api/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
