"""CheetahLion's Qt front end: a thin layer of forms, views and workers over `training`."""
