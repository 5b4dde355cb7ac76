'use strict';
/*
 * Action baked into leon-edge/blackbox-echo: answers every activation with its input, the
 * image name and the activation's __OW_ environment (the API key is masked).
 */
function main(params) {
  const env = {};
  for (const [key, val] of Object.entries(process.env)) {
    if (key.startsWith('__OW_')) {
      env[key] = key === '__OW_API_KEY' && val ? '***' : val;
    }
  }
  console.log(`blackbox-echo: activation ${env.__OW_ACTIVATION_ID || '-'} of ${env.__OW_ACTION_NAME || '-'}`);
  return { echo: params, image: 'blackbox-echo', env };
}

module.exports = { main };
