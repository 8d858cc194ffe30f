// The API documentation page (/api/docs): Swagger UI with the configuration the page carries.
window.addEventListener("load", function () {
  var config = JSON.parse(document.getElementById("swagger-ui-config").textContent);
  window.ui = SwaggerUIBundle(config);
});
