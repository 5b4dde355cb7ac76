// The default-parameters list of the openwhisk-action and openwhisk-trigger edit dialogs: one row
// per key with a typed value (string, number, boolean, JSON). Loaded by both nodes' editor HTML
// from Node-RED's resources route (a relative URL, as Node-RED requires).
(function () {
  'use strict';
  function typeOf(v) {
    if (typeof v === 'number') {
      return 'num';
    }
    if (typeof v === 'boolean') {
      return 'bool';
    }
    return v !== null && typeof v === 'object' ? 'json' : 'str';
  }
  window.LeonOpenWhiskParams = {
    /** Turns the <ol> at `selector` into the list, filled with `params` ([{key, value}]). */
    build: function (selector, params, minHeight) {
      var list = $(selector)
        .css('min-height', minHeight + 'px')
        .editableList({
          addItem: function (row, index, data) {
            var key = $('<input/>', { class: 'node-input-param-key', type: 'text', placeholder: 'key', style: 'width:35%' }).appendTo(row);
            var val = $('<input/>', { class: 'node-input-param-value', type: 'text', style: 'width:60%;margin-left:2%' }).appendTo(row);
            val.typedInput({ default: 'str', types: ['str', 'num', 'bool', 'json'] });
            key.val(data.key || '');
            var v = data.value;
            var t = typeOf(v);
            val.typedInput('type', t);
            val.typedInput('value', t === 'json' ? JSON.stringify(v) : v === undefined ? '' : String(v));
          },
          removable: true,
          sortable: true,
        });
      // Old flows saved [{disabled: true}] (no key) when "Allow Edits" was off: nothing to show.
      (params || []).forEach(function (p) {
        if (p && p.key) {
          list.editableList('addItem', p);
        }
      });
      return list;
    },
    /** The rows with a key, values converted to their type (JSON that does not parse stays text). */
    read: function (selector) {
      var params = [];
      $(selector)
        .editableList('items')
        .each(function () {
          var key = $(this).find('.node-input-param-key').val().trim();
          if (!key) {
            return;
          }
          var input = $(this).find('.node-input-param-value');
          var type = input.typedInput('type');
          var raw = input.typedInput('value');
          var value = raw;
          if (type === 'num') {
            value = Number(raw);
          } else if (type === 'bool') {
            value = raw === 'true';
          } else if (type === 'json') {
            try {
              value = JSON.parse(raw);
            } catch {
              value = raw;
            }
          }
          params.push({ key: key, value: value });
        });
      return params;
    },
    /** Gives the list the dialog's height left over by the other rows (oneditresize). */
    resize: function (selector, rowClass, size, minHeight) {
      var height = size.height;
      $('#dialog-form>div:not(.' + rowClass + ')').each(function () {
        height -= $(this).outerHeight(true);
      });
      $(selector).editableList('height', Math.max(minHeight, height - 20));
    },
  };
})();
