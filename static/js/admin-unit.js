// @ts-check
/*
 * The admin's unit form: the member field searches the field-unit members of the agency chosen
 * in the same form (incidents.admin.UnitDriverChoices), and forgets its choice when the agency
 * changes. Django's own autocomplete script would not send the agency, hence this one.
 */
"use strict";
{
  const $ = django.jQuery;

  $(() => {
    const agency = /** @type {HTMLSelectElement | null} */ (document.getElementById("id_agency"));
    document.querySelectorAll("select.unit-driver-autocomplete").forEach((/** @type {HTMLSelectElement} */ element) => {
      $(element).select2({
        ajax: {
          data: (params) => ({
            term: params.term,
            page: params.page,
            app_label: element.dataset.appLabel,
            model_name: element.dataset.modelName,
            field_name: element.dataset.fieldName,
            agency: agency ? agency.value : "",
            unit: element.dataset.unit || "",
          }),
        },
      });
      if (agency) {
        agency.addEventListener("change", () => $(element).val(null).trigger("change"));
      }
    });
  });
}
