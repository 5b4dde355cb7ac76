// hello: the smallest OpenWhisk action. Input {name}; output {payload: "Hello, <name>!"}.
function main(params) {
  const name = params.name || (typeof params.payload === 'string' && params.payload) || 'World';
  return { payload: `Hello, ${name}!` };
}

module.exports.main = main;
