"""Prescriptions and LDN titration (issue 17): schedules, what the patient measures, fills
under the BUD, directions and the dated dose chart.

- :mod:`.schedule`: parse ``--steps`` or the rule form, the guide's dose ceilings;
- :mod:`.measure`: a dose in the patient's unit (mL, drops, capsules, clicks) and the
  back-off half dose;
- :mod:`.fills`: fills that never run past the BUD, quantities, label directions;
- :mod:`.chart`: the dose chart PDF (ReportLab; Letter and A4).

All pure (dates, formula and settings are arguments); records live in
``compounding.store.prescriptions``. Rules and sources: docs/titration.md.
"""
