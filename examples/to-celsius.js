// to-celsius: converts a Fahrenheit sensor reading. Input {fahrenheit} (or {payload}); output {value, unit: "C"}.
function main(params) {
  const f = Number(params.fahrenheit !== undefined ? params.fahrenheit : params.payload);
  if (!Number.isFinite(f)) return { error: 'to-celsius needs a numeric {fahrenheit} (or payload)' };
  return { value: Math.round((((f - 32) * 5) / 9) * 10) / 10, unit: 'C' };
}

module.exports.main = main;
