// threshold: a sensor check that belongs at the edge (LEON): only alarms need to travel to the cloud.
// Input {value} (or {payload}); parameters threshold (default 30) and direction
// "above" (default) or "below". Output {value, threshold, alarm, payload}; a non-numeric value → {error}.
function main(params) {
  const value = Number(params.value !== undefined ? params.value : params.payload);
  const threshold = Number(params.threshold !== undefined ? params.threshold : 30);
  if (!Number.isFinite(value)) return { error: `threshold needs a numeric value, got ${JSON.stringify(params.value ?? params.payload)}` };
  if (!Number.isFinite(threshold)) return { error: `threshold parameter is not a number: ${JSON.stringify(params.threshold)}` };
  const alarm = params.direction === 'below' ? value < threshold : value > threshold;
  return {
    value,
    threshold,
    alarm,
    payload: alarm ? `ALARM: ${value} is ${params.direction === 'below' ? 'below' : 'above'} ${threshold}` : 'ok',
  };
}

module.exports.main = main;
