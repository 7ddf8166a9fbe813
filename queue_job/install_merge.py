# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""Records that several modules may declare: merged while modules install."""


def create_merging_declared(model, vals_list, find_existing, create):
    """Create the records of ``vals_list``, reusing those already declared.

    Several modules may declare the same channel or job function in their
    data files: instead of failing on a unique name, the record found by
    ``find_existing(vals)`` is reused (and updated with ``vals``, unless its
    XML record is ``noupdate``); the others are created with
    ``create(vals_list)``. The result keeps the order of ``vals_list``, which
    the XML loader relies on to bind XML ids.
    """
    existing_by_index = {}
    to_create = []
    for index, vals in enumerate(vals_list):
        existing = find_existing(vals)
        if existing:
            if not existing.get_metadata()[0].get("noupdate"):
                existing.write(vals)
            existing_by_index[index] = existing
        else:
            to_create.append(vals)
    created = iter(create(to_create).ids)
    return model.browse(
        [
            existing_by_index[index].id if index in existing_by_index else next(created)
            for index in range(len(vals_list))
        ]
    )
